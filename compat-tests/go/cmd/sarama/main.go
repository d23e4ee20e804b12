// Command sarama runs Sarama scenarios against a broker and prints one JSON line each.
//
//	sarama -bootstrap HOST:PORT -version 2.1.0 -prefix TOPICPREFIX scenario...
//
// The test creates the topics PREFIX-produce, PREFIX-group, PREFIX-rebalance (2
// partitions each), PREFIX-offsets and PREFIX-txn (1) first. The same source builds
// against the newest github.com/IBM/sarama and, through `go build -overlay` with the
// import path rewritten, against github.com/Shopify/sarama v1.38.1 (which does not
// negotiate API versions: it sends what Version implies).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/IBM/sarama"

	"kafkacompat/gocompat/internal/report"
)

var (
	bootstrap = flag.String("bootstrap", "127.0.0.1:9092", "broker host:port")
	versionS  = flag.String("version", "2.1.0", "sarama Config.Version")
	prefix    = flag.String("prefix", "sarama", "topic and group name prefix")
	clientTag = flag.String("client", "sarama", "client name in the JSON lines")
	foreign   = flag.String("foreign", "", "read_foreign: a topic another client wrote (partition 0)")
	foreignN  = flag.Int("foreign-count", 0, "read_foreign: how many records to read")
	version   sarama.KafkaVersion
)

func main() {
	flag.Parse()
	v, err := sarama.ParseKafkaVersion(*versionS)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	version = v
	scenarios := map[string]func() (any, error){
		"produce_consume": produceConsume,
		"consumer_group":  consumerGroup,
		"offset_manager":  offsetManager,
		"admin":           admin,
		"transactions":    transactions,
		"read_foreign":    readForeign,
		"group_rebalance": groupRebalance,
		"log_dirs":        logDirs,
		"static_member":   staticMember,
		"roundtrip":       roundtrip,
	}
	for _, name := range flag.Args() {
		fn, ok := scenarios[name]
		if !ok {
			fmt.Fprintln(os.Stderr, "unknown scenario", name)
			os.Exit(2)
		}
		report.Run(*clientTag+"@"+*versionS, name, fn)
	}
}

func config() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = version
	c.ClientID = "kafka-compat-sarama"
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Return.Errors = true
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	secure(c)
	return c
}

func newClient() (sarama.Client, error) {
	return sarama.NewClient([]string{*bootstrap}, config())
}

type produced struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

type consumed struct {
	Offset    int64             `json:"offset"`
	Key       string            `json:"key"`
	Value     string            `json:"value"`
	Timestamp int64             `json:"timestamp"` // ms; 0 where the format has none
	Headers   map[string]string `json:"headers,omitempty"`
}

var baseTime = time.UnixMilli(1_700_000_000_000)

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	var te *sarama.TopicError
	if errors.As(err, &te) {
		return te.Err.Error()
	}
	return err.Error()
}
