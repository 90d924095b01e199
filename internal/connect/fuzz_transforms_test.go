package connect

import (
	"strings"
	"testing"
)

// FuzzTransformChain: single message transform and predicate configs
// (transforms.*, predicates.*) never panic validation, the chain's
// construction or its application; a config that validates builds a
// chain, and what the chain returns is written by the converter.
func FuzzTransformChain(f *testing.F) {
	const structVal = `{"schema":{"type":"struct","optional":false,"fields":[{"field":"id","type":"int64","optional":false},{"field":"name","type":"string","optional":true}]},"payload":{"id":7,"name":"ann"}}`
	for _, c := range []struct {
		config   string
		schemas  bool
		key, val string
	}{
		{"transforms=i\ntransforms.i.type=org.apache.kafka.connect.transforms.InsertField$Value\ntransforms.i.topic.field=t\ntransforms.i.offset.field=o\ntransforms.i.static.field=s\ntransforms.i.static.value=v", false, `"k"`, `{"a":1}`},
		{"transforms=i\ntransforms.i.type=InsertField$Value\ntransforms.i.topic.field=t!", true, ``, structVal},
		{"transforms=r\ntransforms.r.type=ReplaceField$Value\ntransforms.r.exclude=b\ntransforms.r.renames=a:x,c:y", false, ``, `{"a":1,"b":2,"c":3}`},
		{"transforms=m\ntransforms.m.type=MaskField$Value\ntransforms.m.fields=name,id\ntransforms.m.replacement=99", true, ``, structVal},
		{"transforms=v,e\ntransforms.v.type=ValueToKey\ntransforms.v.fields=id\ntransforms.e.type=ExtractField$Key\ntransforms.e.field=id", false, ``, `{"id":5}`},
		{"transforms=h\ntransforms.h.type=HoistField$Value\ntransforms.h.field=line", true, ``, `{"schema":{"type":"string","optional":false},"payload":"hi"}`},
		{"transforms=c\ntransforms.c.type=Cast$Value\ntransforms.c.spec=a:int8,b:string,c:float64,d:boolean", false, ``, `{"a":300,"b":1.5,"c":"2.25","d":0}`},
		{"transforms=c\ntransforms.c.type=Cast$Key\ntransforms.c.spec=string", false, `12`, `1`},
		{"transforms=r\ntransforms.r.type=RegexRouter\ntransforms.r.regex=(.*)-raw\ntransforms.r.replacement=$1-clean", false, ``, `1`},
		{"transforms=r\ntransforms.r.type=TimestampRouter\ntransforms.r.timestamp.format=yyyy-MM-dd'T'HH\ntransforms.r.topic.format=${timestamp}_${topic}", false, ``, `1`},
		{"transforms=f\ntransforms.f.type=Filter\ntransforms.f.predicate=p\ntransforms.f.negate=true\npredicates=p\npredicates.p.type=TopicNameMatches\npredicates.p.pattern=log.*", false, ``, `1`},
		{"transforms=f,d,h\ntransforms.f.type=Filter\ntransforms.f.predicate=p\npredicates=p\npredicates.p.type=HasHeaderKey\npredicates.p.name=x\ntransforms.d.type=DropHeaders\ntransforms.d.headers=h\ntransforms.h.type=InsertHeader\ntransforms.h.header=n\ntransforms.h.value.literal=v", false, ``, `null`},
		{"transforms=f\ntransforms.f.type=Filter\ntransforms.f.predicate=t\npredicates=t\npredicates.t.type=RecordIsTombstone", false, ``, `null`},
	} {
		f.Add(c.config, c.schemas, c.key, c.val)
	}
	f.Fuzz(func(t *testing.T, text string, schemas bool, key, val string) {
		cfg := map[string]string{}
		for _, l := range strings.Split(text, "\n") {
			k, v, _ := strings.Cut(l, "=")
			cfg[k] = v
		}
		full := map[string]string{"name": "c", "connector.class": "FileStreamSink", "topics": "t"}
		for k, v := range cfg {
			if !strings.HasPrefix(k, "transforms") && !strings.HasPrefix(k, "predicates") {
				continue
			}
			full[k] = v
		}
		infos := Validate(fileStreamSinkPlugin(), full)
		chain, err := NewTransformChain(full)
		if err != nil {
			if infos.ErrorCount == 0 {
				t.Fatalf("config validates but the chain fails: %v\n%s", err, text)
			}
			return
		}
		conv := jsonConverter{schemas: schemas}
		data := func(s string) (*Data, bool) {
			if s == "" {
				return nil, true
			}
			d, err := conv.ToConnect("t", []byte(s))
			return d, err == nil
		}
		k, ok1 := data(key)
		v, ok2 := data(val)
		if !ok1 || !ok2 {
			return
		}
		part, off, ts := int32(3), int64(42), int64(1700000000123)
		r := &ConnectRecord{Topic: "logs-raw", Partition: &part, KafkaOffset: &off, Key: k, Value: v, Timestamp: &ts, Headers: []Header{{"h", []byte("v")}}}
		out, err := chain.Apply(r)
		if err != nil || out == nil {
			return
		}
		conv.FromConnect(out.Topic, out.Key)
		conv.FromConnect(out.Topic, out.Value)
	})
}
