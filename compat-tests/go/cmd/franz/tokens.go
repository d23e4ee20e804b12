package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// tokens: delegation tokens with kadm (the flags' login creates one), then clients
// logging in with it (scram.Auth IsToken: the tokenauth=true extension) run roundtrip's
// five records; describe, renew, expire, and a login after the expiry.
func tokens(ctx context.Context) (any, error) {
	cl, err := newClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	made, err := adm.CreateDelegationToken(ctx, kadm.CreateDelegationToken{MaxLifetime: -1})
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	out := map[string]any{
		"owner":       made.Owner.Type + ":" + made.Owner.Name,
		"lifetime_ms": made.MaxTimestamp.Sub(made.IssueTimestamp).Milliseconds(),
	}
	login := scram.Auth{
		User:    made.TokenID,
		Pass:    base64.StdEncoding.EncodeToString(made.HMAC),
		IsToken: true,
	}.AsSha512Mechanism()
	values, err := roundtripAs(ctx, login, *prefix+"-tokens")
	if err != nil {
		return nil, fmt.Errorf("round trip with the token: %w", err)
	}
	out["values"] = values
	withToken, err := newClientAs(login)
	if err != nil {
		return nil, err
	}
	defer withToken.Close()
	// A token login may not create tokens (DELEGATION_TOKEN_REQUEST_NOT_ALLOWED).
	_, err = kadm.NewClient(withToken).CreateDelegationToken(ctx, kadm.CreateDelegationToken{MaxLifetime: -1})
	out["create_with_token"] = errName(err)

	described, err := adm.DescribeDelegationTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("describe: %w", err)
	}
	found := false
	for _, t := range described {
		found = found || t.TokenID == made.TokenID
	}
	out["described"] = found
	before := time.Now()
	renewed, err := adm.RenewDelegationToken(ctx, made.HMAC, time.Minute)
	if err != nil {
		return nil, fmt.Errorf("renew: %w", err)
	}
	out["renewed_in_s"] = renewed.Sub(before).Seconds()
	if _, err := adm.ExpireDelegationToken(ctx, made.HMAC, -time.Millisecond); err != nil {
		return nil, fmt.Errorf("expire: %w", err)
	}
	_, err = adm.RenewDelegationToken(ctx, made.HMAC, time.Minute)
	out["renew_after_expire"] = errName(err)
	late, err := newClientAs(login)
	if err != nil {
		return nil, err
	}
	defer late.Close()
	out["login_after_expire"] = errName(late.Ping(ctx))
	return out, nil
}
