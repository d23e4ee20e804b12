package main

import (
	"fmt"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"

	"kafkacompat/gocompat/internal/security"
)

// secure sets the TLS and SASL options the -tls-*/-sasl-* flags ask for.
func secure(c *sarama.Config) {
	tlsConfig, err := security.TLSConfig()
	if err != nil {
		panic(err) // report.Run turns it into the scenario's error
	}
	if tlsConfig != nil {
		c.Net.TLS.Enable = true
		c.Net.TLS.Config = tlsConfig
	}
	if *security.Mechanism == "" {
		return
	}
	c.Net.SASL.Enable = true
	c.Net.SASL.Version = sarama.SASLHandshakeV1
	c.Net.SASL.User = *security.User
	c.Net.SASL.Password = *security.Password
	c.Net.SASL.Mechanism = sarama.SASLMechanism(*security.Mechanism)
	switch *security.Mechanism {
	case sarama.SASLTypeSCRAMSHA256:
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
	case sarama.SASLTypeSCRAMSHA512:
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
	case sarama.SASLTypeOAuth:
		c.Net.SASL.TokenProvider = tokenProvider{}
	}
}

// scramClient is sarama's SCRAMClient over xdg-go/scram (sarama's own example).
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *scramClient) Begin(user, password, authzID string) error {
	client, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	s.conv = client.NewConversation()
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) { return s.conv.Step(challenge) }

func (s *scramClient) Done() bool { return s.conv.Done() }

type tokenProvider struct{}

func (tokenProvider) Token() (*sarama.AccessToken, error) {
	if *security.Token == "" {
		return nil, fmt.Errorf("OAUTHBEARER needs -sasl-token")
	}
	return &sarama.AccessToken{Token: *security.Token}, nil
}

// roundtrip: five records "m0".."m4" to a new topic (created on its first Metadata),
// read back from partition 0 (over whatever TLS/SASL the flags set).
func roundtrip() (any, error) {
	topic := *prefix + "-roundtrip"
	client, err := newClient()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer producer.Close()
	for i := 0; i < 5; i++ {
		msg := &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(fmt.Sprintf("m%d", i))}
		if _, _, err := producer.SendMessage(msg); err != nil {
			return nil, fmt.Errorf("produce: %w", err)
		}
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	values := []string{}
	for len(values) < 5 {
		select {
		case msg := <-pc.Messages():
			values = append(values, string(msg.Value))
		case err := <-pc.Errors():
			return map[string]any{"values": values}, err
		}
	}
	return map[string]any{"values": values}, nil
}
