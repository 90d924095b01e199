// ApiVersions (key 18), versions 0-4.
//
// The advertised table is exactly the registered handlers. A request at a
// version we do not serve gets a v0 response with UNSUPPORTED_VERSION and the
// table, so the client can retry at a version we know (KIP-511). The response
// header is always v0 (see server). Features (v3+): `group.version` 1
// (supported 0-1, finalized 1) while ConsumerGroupHeartbeat v1 is served, as
// clients gate KIP-848 on it; `share.version` 1 (supported 0-1, finalized
// 1) while ShareGroupHeartbeat, ShareGroupDescribe, ShareFetch and
// ShareAcknowledge v1 are served (KIP-932); `transaction.version` 2
// (supported 0-2, finalized 2) while EndTxn v5, TxnOffsetCommit v5 and
// Produce v12 are served: clients then use KIP-890 part 2 (no
// AddPartitionsToTxn for produced partitions, no AddOffsetsToTxn, an
// epoch bump per transaction).
package broker

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ApiVersions, 0, 4, (*Broker).handleApiVersions) }

func apiKeys() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis))
	for k, a := range apis {
		keys = append(keys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: a.min, MaxVersion: a.max})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ApiKey < keys[j].ApiKey })
	return keys
}

// AdvertisedAPIs returns the served API keys and version ranges.
func AdvertisedAPIs() []kmsg.ApiVersionsResponseApiKey { return apiKeys() }

func (b *Broker) handleApiVersions(_ context.Context, r *Request) Pending {
	resp := r.Msg.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = apiKeys()
	setFeatures(resp)
	return respond(resp)
}

// setFeatures advertises the features whose APIs are served.
func setFeatures(resp *kmsg.ApiVersionsResponse) {
	if a, ok := apis[int16(kmsg.ConsumerGroupHeartbeat)]; ok && a.max >= 1 {
		resp.SupportedFeatures = append(resp.SupportedFeatures, kmsg.ApiVersionsResponseSupportedFeature{Name: "group.version", MinVersion: 0, MaxVersion: 1})
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, kmsg.ApiVersionsResponseFinalizedFeature{Name: "group.version", MinVersionLevel: 1, MaxVersionLevel: 1})
		resp.FinalizedFeaturesEpoch = 1
	}
	// share.version 1 (Kafka 4.2's share groups) once every share group
	// API is served; clients gate share groups on it.
	share := true
	for _, k := range []kmsg.Key{kmsg.ShareGroupHeartbeat, kmsg.ShareGroupDescribe, kmsg.ShareFetch, kmsg.ShareAcknowledge} {
		if a, ok := apis[int16(k)]; !ok || a.max < 1 {
			share = false
		}
	}
	if share {
		resp.SupportedFeatures = append(resp.SupportedFeatures, kmsg.ApiVersionsResponseSupportedFeature{Name: "share.version", MinVersion: 0, MaxVersion: 1})
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, kmsg.ApiVersionsResponseFinalizedFeature{Name: "share.version", MinVersionLevel: 1, MaxVersionLevel: 1})
		resp.FinalizedFeaturesEpoch = 1
	}
	if txnVersion2Served() {
		resp.SupportedFeatures = append(resp.SupportedFeatures, kmsg.ApiVersionsResponseSupportedFeature{Name: "transaction.version", MinVersion: 0, MaxVersion: 2})
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, kmsg.ApiVersionsResponseFinalizedFeature{Name: "transaction.version", MinVersionLevel: 2, MaxVersionLevel: 2})
		resp.FinalizedFeaturesEpoch = 1
	}
}

// txnVersion2Served: the APIs transaction version 2 needs are registered.
func txnVersion2Served() bool {
	for _, need := range []struct{ key, version int16 }{{kmsg.EndTxn.Int16(), 5}, {kmsg.TxnOffsetCommit.Int16(), 5}, {kmsg.Produce.Int16(), 12}} {
		if a, ok := apis[need.key]; !ok || a.max < need.version {
			return false
		}
	}
	return true
}

// UnsupportedApiVersions answers an ApiVersions request at a version we do
// not serve.
func (b *Broker) UnsupportedApiVersions() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = apiKeys()
	return resp
}
