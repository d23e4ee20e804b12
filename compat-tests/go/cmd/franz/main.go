// Command franz runs franz-go (kgo, kadm) scenarios against a broker and prints one
// JSON line each:
//
//	franz -bootstrap HOST:PORT -prefix NAMEPREFIX scenario...
//
// Each scenario creates its topics with kadm. franz-go negotiates: it uses the
// highest version of each request that both sides know.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"kafkacompat/gocompat/internal/report"
	"kafkacompat/gocompat/internal/security"
)

var (
	bootstrap = flag.String("bootstrap", "127.0.0.1:9092", "broker host:port")
	prefix    = flag.String("prefix", "franz", "topic and group name prefix")
	maxVer    = flag.String("max-versions", "", "pin kgo.MaxVersions to a Kafka release (e.g. 0.10.2), as an old broker would cap them")
)

func main() {
	flag.Parse()
	scenarios := map[string]func(context.Context) (any, error){
		"produce_consume": produceConsume,
		"group_commit":    groupCommit,
		"admin_topics":    adminTopics,
		"admin_groups":    adminGroups,
		"transactions":    transactions,
		"many_partitions": manyPartitions,
		"roundtrip":       roundtrip,
		"tokens":          tokens,
	}
	for _, name := range flag.Args() {
		fn, ok := scenarios[name]
		if !ok {
			fmt.Fprintln(os.Stderr, "unknown scenario", name)
			os.Exit(2)
		}
		client := "franz-go"
		if *maxVer != "" {
			client += "@" + *maxVer
		}
		report.Run(client, name, func() (any, error) {
			ctx, cancel := context.WithTimeout(context.Background(), report.Deadline)
			defer cancel()
			return fn(ctx)
		})
	}
}

func newClient(opts ...kgo.Opt) (*kgo.Client, error) {
	return newClientAs(nil, opts...)
}

// newClientAs is newClient logging in with `login` instead of the flags' SASL login
// (when not nil).
func newClientAs(login sasl.Mechanism, opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(*bootstrap),
		kgo.ClientID("kafka-compat-franz"),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	}
	if *maxVer != "" {
		base = append(base, kgo.MaxVersions(kversion.FromString(*maxVer)))
		if !kversion.FromString(*maxVer).HasKey(22) { // no InitProducerId: no idempotence
			base = append(base, kgo.DisableIdempotentWrite())
		}
	}
	tlsConfig, err := security.TLSConfig()
	if err != nil {
		return nil, err
	}
	if tlsConfig != nil {
		base = append(base, kgo.DialTLSConfig(tlsConfig))
	}
	if login != nil {
		base = append(base, kgo.SASL(login))
	} else if *security.Mechanism != "" {
		mechanism, err := saslMechanism()
		if err != nil {
			return nil, err
		}
		base = append(base, kgo.SASL(mechanism))
	}
	return kgo.NewClient(append(base, opts...)...)
}

func saslMechanism() (sasl.Mechanism, error) {
	switch *security.Mechanism {
	case "PLAIN":
		return plain.Auth{User: *security.User, Pass: *security.Password}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: *security.User, Pass: *security.Password}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: *security.User, Pass: *security.Password}.AsSha512Mechanism(), nil
	case "OAUTHBEARER":
		return oauth.Auth{Token: *security.Token}.AsMechanism(), nil
	}
	return nil, fmt.Errorf("unknown SASL mechanism %q", *security.Mechanism)
}

// roundtrip: five records "m0".."m4" to a new topic, read back in a consumer group
// (over whatever TLS/SASL the flags set).
func roundtrip(ctx context.Context) (any, error) {
	values, err := roundtripAs(ctx, nil, *prefix+"-roundtrip")
	return map[string]any{"values": values}, err
}

// roundtripAs: roundtrip's records and reads, logging in with `login` (nil: the flags').
func roundtripAs(ctx context.Context, login sasl.Mechanism, topic string) ([]string, error) {
	cl, err := newClientAs(login, kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if err := createTopic(ctx, kadm.NewClient(cl), topic, 1, nil); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	var recs []*kgo.Record
	for i := 0; i < 5; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(fmt.Sprintf("m%d", i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return nil, fmt.Errorf("produce: %w", err)
	}
	consumer, err := newClientAs(
		login,
		kgo.ConsumerGroup(topic+"-group"),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	got, err := poll(ctx, consumer, 5)
	values := []string{}
	for _, r := range got {
		values = append(values, r.Value)
	}
	return values, err
}

func createTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) error {
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err != nil {
		return err
	}
	return resp.Err
}

func errName(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func derefS(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func strp(s string) *string { return &s }
