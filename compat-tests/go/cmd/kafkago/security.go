package main

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"kafkacompat/gocompat/internal/security"
)

func saslMechanism() (sasl.Mechanism, error) {
	switch *security.Mechanism {
	case "":
		return nil, nil
	case "PLAIN":
		return plain.Mechanism{Username: *security.User, Password: *security.Password}, nil
	case "SCRAM-SHA-256":
		return scram.Mechanism(scram.SHA256, *security.User, *security.Password)
	case "SCRAM-SHA-512":
		return scram.Mechanism(scram.SHA512, *security.User, *security.Password)
	case "OAUTHBEARER":
		return oauthBearer{*security.Token}, nil
	}
	return nil, fmt.Errorf("unknown SASL mechanism %q", *security.Mechanism)
}

// oauthBearer: kafka-go has no OAUTHBEARER mechanism; RFC 7628's client message with a
// token as it is, the way other clients send it.
type oauthBearer struct{ token string }

func (oauthBearer) Name() string { return "OAUTHBEARER" }

func (o oauthBearer) Start(context.Context) (sasl.StateMachine, []byte, error) {
	return o, []byte("n,,\x01auth=Bearer " + o.token + "\x01\x01"), nil
}

func (oauthBearer) Next(_ context.Context, challenge []byte) (bool, []byte, error) {
	if len(challenge) > 0 { // the server's error JSON: RFC 7628 wants a %x01 back
		return false, nil, fmt.Errorf("OAUTHBEARER refused: %s", challenge)
	}
	return true, nil, nil
}

// roundtrip: five records "m0".."m4" with a Writer, read back with a partition Reader,
// both over whatever TLS/SASL the flags set.
func roundtrip(ctx context.Context) (any, error) {
	topic := *prefix + "-roundtrip"
	tlsConfig, err := security.TLSConfig()
	if err != nil {
		return nil, err
	}
	mechanism, err := saslMechanism()
	if err != nil {
		return nil, err
	}
	w := &kafka.Writer{
		Addr: kafka.TCP(*bootstrap), Topic: topic, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond, AllowAutoTopicCreation: true,
		Transport: &kafka.Transport{TLS: tlsConfig, SASL: mechanism},
	}
	var msgs []kafka.Message
	for i := 0; i < 5; i++ {
		msgs = append(msgs, kafka.Message{Value: []byte(fmt.Sprintf("m%d", i))})
	}
	// The first write may meet the topic before it has a leader: kafka-go retries.
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		w.Close()
		return nil, fmt.Errorf("write: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	dialer := &kafka.Dialer{Timeout: 10 * time.Second, TLS: tlsConfig, SASLMechanism: mechanism}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{*bootstrap}, Topic: topic, Partition: 0, MaxWait: 200 * time.Millisecond, Dialer: dialer,
	})
	defer r.Close()
	values := []string{}
	for len(values) < 5 {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return map[string]any{"values": values}, err
		}
		values = append(values, string(m.Value))
	}
	return map[string]any{"values": values}, nil
}
