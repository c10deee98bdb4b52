package testenv

import (
	"context"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
)

// ServiceAccountSubject verifies ServiceAccount tokens as a cloud's
// identity service does against the cluster's issuer, through the API
// server's TokenReview: the returned function gives a token's subject
// (system:serviceaccount:NAMESPACE:NAME) and whether it is valid for
// audience. The cloud fakes take it as their trust.
func (k *Kube) ServiceAccountSubject(audience string) func(token string) (string, bool) {
	return func(token string) (string, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{audience}}}
		if err := k.Client.Create(ctx, tr); err != nil || !tr.Status.Authenticated {
			return "", false
		}
		return tr.Status.User.Username, true
	}
}
