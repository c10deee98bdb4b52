package git

import (
	"errors"
	"strings"
)

var (
	// ErrNothingToCommit is returned by Commit when the worktree has no
	// change; hoist never makes an empty commit.
	ErrNothingToCommit = errors.New("nothing to commit")

	// ErrBranchNotFound means the remote has no such branch (it was never
	// created, or it was deleted).
	ErrBranchNotFound = errors.New("branch not found on the remote")

	// ErrRemoteMoved means a push was rejected because the remote branch no
	// longer points where hoist's commit was based: another writer pushed
	// first. Update handles it by fetching and re-planning.
	ErrRemoteMoved = errors.New("remote branch moved")

	// ErrPushRejected means the remote refused the update for another
	// reason, such as a hook or a protected branch.
	ErrPushRejected = errors.New("remote refused the push")

	// ErrBranchNotOwned means the push branch exists on the remote with a
	// commit that hoist did not push; hoist refuses to overwrite it.
	ErrBranchNotOwned = errors.New("push branch has commits that hoist did not push")

	// ErrTooManyAttempts means the remote kept moving while Update tried to
	// push, for as many attempts as it was allowed.
	ErrTooManyAttempts = errors.New("remote kept moving")

	// ErrUnknownHost means the SSH server's host is not in known_hosts.
	ErrUnknownHost = errors.New("SSH host is not in known_hosts")

	// ErrHostKeyMismatch means the SSH server presented a host key that
	// differs from the one in known_hosts.
	ErrHostKeyMismatch = errors.New("SSH host key does not match known_hosts")

	// ErrNoKnownHosts means an SSH remote was given without known_hosts
	// and without explicitly turning host key checking off.
	ErrNoKnownHosts = errors.New("SSH remote needs known_hosts")

	// ErrInvalidOptions means options failed validation.
	ErrInvalidOptions = errors.New("invalid options")

	// ErrMessageTooLarge means a commit message template rendered, or a
	// function it called would have made, more than MaxMessageSize bytes.
	ErrMessageTooLarge = errors.New("commit message template renders too much")

	// ErrCredentialInMessage means a rendered commit message contains a
	// credential of the checkout's Auth; the commit is refused.
	ErrCredentialInMessage = errors.New("commit message contains a credential")
)

// redactedError hides secrets in the message of the error it wraps, while
// errors.Is and errors.As still see the wrapped chain.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactError returns err with every secret and every URL password in its
// message replaced by "REDACTED". Secrets shorter than 4 bytes are not
// searched for, as they would match ordinary text.
func redactError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	out := RedactURLs(msg)
	for _, s := range secrets {
		if len(s) >= 4 {
			out = strings.ReplaceAll(out, s, "REDACTED")
		}
	}
	if out == msg {
		return err
	}
	return &redactedError{msg: out, err: err}
}
