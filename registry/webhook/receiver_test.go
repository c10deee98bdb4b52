package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPath(t *testing.T) {
	tests := map[string]struct {
		token, name, namespace string
		want                   string
	}{
		// printf 'tokenhookapps' | sha256sum
		"hook": {"token", "hook", "apps", "/hook/4d50eaeef30b65979985f793418582be2dd4510f182cb0f18233827edafdbb84"},
		// printf 's3cr3tgithub-receiverflux-system' | sha256sum
		"flux": {"s3cr3t", "github-receiver", "flux-system", "/hook/605dbd4976c3504a20afec155a68122702621389b3b29f71feb118008a1696a1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Path(tc.token, tc.name, tc.namespace)); diff != "" {
				t.Errorf("Path (-want +got):\n%s", diff)
			}
			r := Receiver{Token: tc.token, Name: tc.name, Namespace: tc.namespace}
			if r.Path() != tc.want {
				t.Errorf("Receiver.Path() = %q, want %q", r.Path(), tc.want)
			}
		})
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, TokenKey), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("hook", "s3cr3t")
	write("echoed", "s3cr3t\n")
	write("crlf", "  s3cr3t\r\n")
	write("empty", "\n")
	if err := os.MkdirAll(filepath.Join(dir, "nokey"), 0o700); err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		name  string
		want  string
		errIs error
	}{
		"plain":        {name: "hook", want: "s3cr3t"},
		"newline":      {name: "echoed", want: "s3cr3t"},
		"white space":  {name: "crlf", want: "s3cr3t"},
		"empty":        {name: "empty", errIs: ErrInvalidSecret},
		"no key":       {name: "nokey", errIs: fs.ErrNotExist},
		"no secret":    {name: "absent", errIs: fs.ErrNotExist},
		"empty name":   {name: "", errIs: ErrInvalidSecret},
		"dot dot":      {name: "..", errIs: ErrInvalidSecret},
		"dot":          {name: ".", errIs: ErrInvalidSecret},
		"slash":        {name: "hook/../hook", errIs: ErrInvalidSecret},
		"backslash":    {name: `a\b`, errIs: ErrInvalidSecret},
		"absolute":     {name: "/etc", errIs: ErrInvalidSecret},
		"another path": {name: "../" + filepath.Base(dir), errIs: ErrInvalidSecret},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ReadToken(dir, tc.name)
			if tc.errIs != nil {
				if !errors.Is(err, tc.errIs) {
					t.Fatalf("ReadToken = %q, %v; want %v", got, err, tc.errIs)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Errorf("error %q shows the token", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ReadToken = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestReceiverRedacts: printing or logging a Receiver never shows its token.
func TestReceiverRedacts(t *testing.T) {
	r := Receiver{Name: "hook", Namespace: "apps", Type: TypeGitHub, Token: "s3cr3t-token", Resources: []string{"apps/web"}}
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logger.Info("x", "receiver", r)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "receiver", r)
	for _, s := range []string{
		fmt.Sprint(r), fmt.Sprintf("%v %+v %#v %s %q", r, r, r, r, r), fmt.Sprintf("%v", []Receiver{r}),
		fmt.Sprintf("%+v", &r), buf.String(),
	} {
		if strings.Contains(s, r.Token) {
			t.Errorf("%q shows the token", s)
		}
	}
	if got := fmt.Sprint(r); got != "apps/hook" {
		t.Errorf("String() = %q, want apps/hook", got)
	}
	if !strings.Contains(buf.String(), `"type":"github"`) {
		t.Errorf("log %q lacks the receiver's type", buf.String())
	}
}

func TestNewHandlerRefuses(t *testing.T) {
	ok := Receiver{Name: "hook", Namespace: "apps", Type: TypeDockerHub, Token: "t"}
	trigger := func(ctx context.Context, r Receiver, req Request) error { return nil }
	with := func(edit func(*Receiver)) Receiver { r := ok; edit(&r); return r }
	tests := map[string]struct {
		receivers []Receiver
		trigger   Trigger
		opts      []Option
		errIs     error
	}{
		"no name":      {receivers: []Receiver{with(func(r *Receiver) { r.Name = "" })}, errIs: ErrInvalidReceiver},
		"no namespace": {receivers: []Receiver{with(func(r *Receiver) { r.Namespace = "" })}, errIs: ErrInvalidReceiver},
		"no token":     {receivers: []Receiver{with(func(r *Receiver) { r.Token = " " })}, errIs: ErrInvalidReceiver},
		"jenkins":      {receivers: []Receiver{with(func(r *Receiver) { r.Type = "jenkins" })}, errIs: ErrInvalidReceiver},
		"bad filter":   {receivers: []Receiver{with(func(r *Receiver) { r.ResourceFilter = "res.metadata.name +" })}, errIs: ErrInvalidReceiver},
		"no type":      {receivers: []Receiver{with(func(r *Receiver) { r.Type = "" })}, errIs: ErrInvalidReceiver},
		"same path":    {receivers: []Receiver{ok, with(func(r *Receiver) { r.Type = TypeQuay })}, errIs: ErrInvalidReceiver},
		"nil trigger":  {receivers: []Receiver{ok}},
		"bad limit":    {receivers: []Receiver{ok}, trigger: trigger, opts: []Option{WithBodyLimit(0)}},
		"nil logger":   {receivers: []Receiver{ok}, trigger: trigger, opts: []Option{WithLogger(nil)}},
		"nil observer": {receivers: []Receiver{ok}, trigger: trigger, opts: []Option{WithObserver(nil)}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tr := tc.trigger
			if tr == nil && tc.errIs != nil {
				tr = trigger
			}
			h, err := NewHandler(tc.receivers, tr, tc.opts...)
			if err == nil {
				t.Fatalf("NewHandler = %v, nil; want an error", h)
			}
			if tc.errIs != nil && !errors.Is(err, tc.errIs) {
				t.Errorf("NewHandler: %v; want %v", err, tc.errIs)
			}
			if strings.Contains(err.Error(), ok.Path()) {
				t.Errorf("error %q shows a path", err)
			}
		})
	}
	if _, err := NewHandler(nil, trigger); err != nil {
		t.Errorf("NewHandler with no receivers: %v", err)
	}
}
