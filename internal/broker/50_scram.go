// DescribeUserScramCredentials (key 50) and AlterUserScramCredentials
// (key 51), version 0 (KIP-554).
//
// Credentials live in the metadata quorum (metadata.AlterScram): the salt,
// the iteration count and the keys derived from the salted password the
// client sends; neither the password nor the salted password is stored.
// The rules (4096 to 16384 iterations, known mechanisms, a user named once
// per request, deleting only what exists) are controller.CheckScram*.
// Differences from Kafka: none known.
package broker

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/controller"
	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/security"
)

func init() {
	register(kmsg.DescribeUserSCRAMCredentials, 0, 0, (*Broker).handleDescribeScram)
	register(kmsg.AlterUserSCRAMCredentials, 0, 0, (*Broker).handleAlterScram)
}

// Scram implements security.Credentials over the metadata quorum's state.
func (b *Broker) Scram(user, mechanism string) (security.ScramCredential, bool) {
	return b.quorum.State().ScramCredential(user, mechanism)
}

func (b *Broker) handleDescribeScram(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	if !b.allowedCluster(r, security.OpDescribe) {
		resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp)
	}
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	st := b.quorum.State()
	var users []string
	if req.Users == nil {
		for u := range st.Scram {
			users = append(users, u)
		}
		slices.Sort(users)
	} else {
		for _, u := range req.Users {
			users = append(users, u.Name)
		}
	}
	var alts []controller.ScramAlteration
	for _, u := range users {
		alts = append(alts, controller.ScramAlteration{User: u})
	}
	dup := controller.DuplicateScramUsers(alts)
	for i, u := range users {
		if slices.Contains(dup, u) && slices.Index(users, u) != i {
			continue // one result per duplicated user
		}
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = u
		creds, ok := st.Scram[u]
		switch {
		case slices.Contains(dup, u):
			res.ErrorCode, res.ErrorMessage = kerr.DuplicateResource.Code, kmsg.StringPtr("user "+u+" is named more than once")
		case !ok:
			res.ErrorCode, res.ErrorMessage = kerr.ResourceNotFound.Code, kmsg.StringPtr("attempt to describe a user credential that does not exist: "+u)
		default:
			for _, mech := range []string{security.MechanismScramSHA256, security.MechanismScramSHA512} {
				if c, ok := creds[mech]; ok {
					info := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
					info.Mechanism, info.Iterations = controller.ScramMechanisms[mech], c.Iterations
					res.CredentialInfos = append(res.CredentialInfos, info)
				}
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return respond(resp)
}

func (b *Broker) handleAlterScram(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	st := b.quorum.State()
	var users []string
	var alts []controller.ScramAlteration
	for _, d := range req.Deletions {
		users = append(users, d.Name)
		alts = append(alts, controller.ScramAlteration{User: d.Name, Mechanism: controller.ScramMechanismName(d.Mechanism)})
	}
	for _, u := range req.Upsertions {
		users = append(users, u.Name)
		alts = append(alts, controller.ScramAlteration{User: u.Name, Mechanism: controller.ScramMechanismName(u.Mechanism)})
	}
	dup := controller.DuplicateScramUsers(alts)
	if !b.allowedCluster(r, security.OpAlter) {
		seen := map[string]bool{}
		for _, u := range users {
			if !seen[u] {
				seen[u] = true
				res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
				res.User, res.ErrorCode = u, kerr.ClusterAuthorizationFailed.Code
				resp.Results = append(resp.Results, res)
			}
		}
		return respond(resp)
	}
	failed := map[string]error{}
	fail := func(user string, err error) {
		if _, ok := failed[user]; !ok {
			failed[user] = err
		}
	}
	var cmd metadata.AlterScram
	for _, d := range req.Deletions {
		mech := controller.ScramMechanismName(d.Mechanism)
		_, exists := st.ScramCredential(d.Name, mech)
		if err := controller.CheckScramDeletion(d.Name, mech, exists); err != nil {
			fail(d.Name, err)
			continue
		}
		cmd.Deletions = append(cmd.Deletions, metadata.ScramDeletion{User: d.Name, Mechanism: mech})
	}
	for _, u := range req.Upsertions {
		mech := controller.ScramMechanismName(u.Mechanism)
		if err := controller.CheckScramUpsert(u.Name, mech, u.Iterations, u.Salt, u.SaltedPassword); err != nil {
			fail(u.Name, err)
			continue
		}
		c, err := security.ScramFromSalted(mech, u.Salt, u.SaltedPassword, u.Iterations)
		if err != nil {
			fail(u.Name, err)
			continue
		}
		cmd.Upserts = append(cmd.Upserts, metadata.ScramUpsert{User: u.Name, Mechanism: mech, Credential: c})
	}
	// A user that is duplicated or has any refused alteration is left
	// out entirely.
	keep := func(user string) bool { _, bad := failed[user]; return !bad && !slices.Contains(dup, user) }
	cmd.Deletions = slices.DeleteFunc(cmd.Deletions, func(d metadata.ScramDeletion) bool { return !keep(d.User) })
	cmd.Upserts = slices.DeleteFunc(cmd.Upserts, func(u metadata.ScramUpsert) bool { return !keep(u.User) })
	return func() kmsg.Response {
		var proposeErr error
		if len(cmd.Deletions)+len(cmd.Upserts) > 0 {
			proposeErr = b.propose(&metadata.Command{AlterScram: &cmd})
		}
		seen := map[string]bool{}
		for _, u := range users {
			if seen[u] {
				continue
			}
			seen[u] = true
			res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			res.User = u
			err := failed[u]
			switch {
			case slices.Contains(dup, u):
				res.ErrorCode, res.ErrorMessage = kerr.DuplicateResource.Code, kmsg.StringPtr("a credential of user "+u+" is altered more than once in one request")
			case err != nil:
				res.ErrorCode, res.ErrorMessage = errCode(err), errMsg(err)
			case proposeErr != nil:
				res.ErrorCode, res.ErrorMessage = errCode(proposeErr), errMsg(proposeErr)
			}
			resp.Results = append(resp.Results, res)
		}
		return resp
	}
}
