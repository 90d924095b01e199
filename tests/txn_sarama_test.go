package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestSaramaTransactions: sarama's transactional producer commits one
// transaction and aborts the next; a sarama read_committed consumer reads
// only the committed records, a read_uncommitted one reads both.
func TestSaramaTransactions(t *testing.T) {
	n := startNode(t, "", txnSettings)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Transaction.ID = "sarama-txn"
	cfg.Producer.Transaction.Retry.Max = 50
	cfg.Producer.Transaction.Retry.Backoff = 50 * time.Millisecond
	cfg.Net.MaxOpenRequests = 1
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	addrs := []string{n.Addr()}

	adm, err := sarama.NewClusterAdmin(addrs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if err := adm.CreateTopic("sarama-tx", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	p, err := sarama.NewSyncProducer(addrs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	txn := func(prefix string, commit bool) {
		if err := p.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "sarama-tx", Value: sarama.StringEncoder(fmt.Sprintf("%s-%d", prefix, i))}); err != nil {
				t.Fatalf("send %s-%d: %v", prefix, i, err)
			}
		}
		if commit {
			err = p.CommitTxn()
		} else {
			err = p.AbortTxn()
		}
		if err != nil {
			t.Fatalf("end %s: %v", prefix, err)
		}
	}
	txn("c1", true)
	txn("a1", false)
	txn("c2", true)

	read := func(level sarama.IsolationLevel, want int) []string {
		ccfg := sarama.NewConfig()
		ccfg.Version = sarama.V3_6_0_0
		ccfg.Consumer.IsolationLevel = level
		ccfg.Consumer.MaxWaitTime = 100 * time.Millisecond
		c, err := sarama.NewConsumer(addrs, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pc, err := c.ConsumePartition("sarama-tx", 0, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		var got []string
		timeout := time.After(30 * time.Second)
		for len(got) < want {
			select {
			case m := <-pc.Messages():
				got = append(got, string(m.Value))
			case <-timeout:
				t.Fatalf("isolation %d: got %v, want %d records", level, got, want)
			}
		}
		select {
		case m := <-pc.Messages():
			t.Fatalf("isolation %d: extra record %s after %v", level, m.Value, got)
		case <-time.After(500 * time.Millisecond):
		}
		return got
	}
	committed := read(sarama.ReadCommitted, 10)
	for _, v := range committed {
		if v[0] == 'a' {
			t.Fatalf("read_committed read aborted record %s: %v", v, committed)
		}
	}
	read(sarama.ReadUncommitted, 15)
}
