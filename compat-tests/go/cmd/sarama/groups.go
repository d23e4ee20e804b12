// Consumer-group scenarios: a group consuming and committing, the offset manager, a
// rebalance between two members, a static member.

package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"kafkacompat/gocompat/internal/report"
)

// groupHandler collects the values its claims deliver and marks each message.
type groupHandler struct {
	mu       sync.Mutex
	values   []string
	want     int
	done     chan struct{}
	once     sync.Once
	memberID string
	gen      int32
	claims   map[string][]int32
}

func (h *groupHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	h.memberID, h.gen, h.claims = s.MemberID(), s.GenerationID(), s.Claims()
	h.mu.Unlock()
	return nil
}

func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		s.MarkMessage(m, "")
		h.mu.Lock()
		h.values = append(h.values, string(m.Value))
		if len(h.values) >= h.want {
			s.Commit()
			h.once.Do(func() { close(h.done) })
		}
		h.mu.Unlock()
	}
	return nil
}

// runGroup consumes `want` messages as a member of the group, then leaves it.
func runGroup(group, topic string, want int, during func() error) (*groupHandler, error) {
	cfg := config()
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{*bootstrap}, group, cfg)
	if err != nil {
		return nil, err
	}
	h := &groupHandler{want: want, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	var failed error
	select {
	case <-h.done:
		if during != nil {
			failed = during()
		}
	case err := <-errc:
		failed = fmt.Errorf("consume: %v", err)
	case <-time.After(report.Deadline):
		failed = fmt.Errorf("group got %d of %d messages", len(h.values), want)
	}
	cancel()
	if err := cg.Close(); err != nil && failed == nil {
		failed = err
	}
	return h, failed
}

// consumerGroup: a member reads 10 records of 2 partitions and commits; the admin
// sees the group Stable, then its committed offsets; a new member resumes there.
func consumerGroup() (any, error) {
	topic, group := *prefix+"-group", *prefix+"-g"
	if err := produceValues(topic, map[int32][]string{0: {"a0", "a1", "a2", "a3", "a4"}, 1: {"b0", "b1", "b2", "b3", "b4"}}); err != nil {
		return nil, err
	}
	client, err := newClient()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	adm, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return nil, err
	}
	res := map[string]any{}
	first, err := runGroup(group, topic, 10, func() error {
		groups, err := adm.DescribeConsumerGroups([]string{group})
		if err != nil {
			return fmt.Errorf("describe groups: %w", err)
		}
		g := groups[0]
		res["described"] = map[string]any{"state": g.State, "protocol_type": g.ProtocolType, "protocol": g.Protocol, "members": len(g.Members)}
		listed, err := adm.ListConsumerGroups()
		if err != nil {
			return fmt.Errorf("list groups: %w", err)
		}
		res["listed_type"] = listed[group]
		return nil
	})
	if first != nil {
		res["first"] = sorted(first.values)
		res["claims"] = first.claims[topic]
		res["generation"] = first.gen
		res["member_id_set"] = first.memberID != ""
	}
	if err != nil {
		return res, err
	}
	offsets, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1}})
	if err != nil {
		return res, fmt.Errorf("list group offsets: %w", err)
	}
	committed := map[string]int64{}
	for _, p := range []int32{0, 1} {
		b := offsets.GetBlock(topic, p)
		if b == nil {
			return res, fmt.Errorf("no offset block for partition %d", p)
		}
		if b.Err != sarama.ErrNoError {
			return res, fmt.Errorf("offset of partition %d: %w", p, b.Err)
		}
		committed[strconv.Itoa(int(p))] = b.Offset
	}
	res["committed"] = committed
	// nil topics: all of the group's offsets (OffsetFetch v2+ null topics).
	all, err := adm.ListConsumerGroupOffsets(group, nil)
	if err != nil {
		return res, fmt.Errorf("list all group offsets: %w", err)
	}
	allOffsets := map[string]int64{}
	for t, blocks := range all.Blocks {
		for p, b := range blocks {
			allOffsets[fmt.Sprintf("%s/%d", t[len(*prefix)+1:], p)] = b.Offset
		}
	}
	res["committed_all_topics"] = allOffsets
	if err := produceValues(topic, map[int32][]string{0: {"c0", "c1"}, 1: {"d0", "d1"}}); err != nil {
		return res, err
	}
	second, err := runGroup(group, topic, 4, nil)
	if second != nil {
		res["resumed"] = sorted(second.values)
	}
	if err != nil {
		return res, err
	}
	groups, err := adm.DescribeConsumerGroups([]string{group})
	if err != nil {
		return res, err
	}
	res["state_after_close"] = groups[0].State
	return res, nil
}

// offsetManager: commits an offset with metadata for a group without members (as
// Sarama's old simple consumers do) and reads it back through a new manager.
func offsetManager() (any, error) {
	topic, group := *prefix+"-offsets", *prefix+"-om"
	client, err := newClient()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	om, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		return nil, err
	}
	pom, err := om.ManagePartition(topic, 0)
	if err != nil {
		return nil, err
	}
	initial, initialMeta := pom.NextOffset()
	pom.MarkOffset(7, "meta-7")
	om.Commit()
	select {
	case e := <-pom.Errors():
		return nil, fmt.Errorf("commit: %w", e)
	default:
	}
	pom.Close()
	if err := om.Close(); err != nil {
		return nil, err
	}
	om2, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		return nil, err
	}
	defer om2.Close()
	pom2, err := om2.ManagePartition(topic, 0)
	if err != nil {
		return nil, err
	}
	defer pom2.Close()
	next, meta := pom2.NextOffset()
	return map[string]any{
		"initial": initial, "initial_metadata": initialMeta,
		"next": next, "metadata": meta,
	}, nil
}

type claimEvent struct {
	member string
	gen    int32
	claims []int32
}

// rebalanceHandler reports each session's claims and the values each member got.
type rebalanceHandler struct {
	member   string
	topic    string
	events   chan<- claimEvent
	received chan<- string
}

func (h *rebalanceHandler) Setup(s sarama.ConsumerGroupSession) error {
	claims := append([]int32(nil), s.Claims()[h.topic]...)
	sort.Slice(claims, func(i, j int) bool { return claims[i] < claims[j] })
	h.events <- claimEvent{h.member, s.GenerationID(), claims}
	return nil
}

func (h *rebalanceHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *rebalanceHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		s.MarkMessage(m, "")
		h.received <- fmt.Sprintf("%s:%d:%s", h.member, m.Partition, m.Value)
	}
	return nil
}

// groupRebalance: member A alone owns both partitions; B joins and the group splits
// them; records go to their partition's owner; B leaves and A owns both again.
func groupRebalance() (any, error) {
	topic, group := *prefix+"-rebalance", *prefix+"-rb"
	events := make(chan claimEvent, 16)
	received := make(chan string, 16)
	start := func(member string) (func() error, error) {
		cfg := config()
		cfg.ClientID = "sarama-" + member
		cfg.Consumer.Group.Heartbeat.Interval = 300 * time.Millisecond
		cg, err := sarama.NewConsumerGroup([]string{*bootstrap}, group, cfg)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		h := &rebalanceHandler{member: member, topic: topic, events: events, received: received}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{topic}, h); err != nil {
					return
				}
			}
		}()
		return func() error { cancel(); err := cg.Close(); <-done; return err }, nil
	}
	deadline := time.After(report.Deadline)
	// waitFor returns the latest claims of each member once `ok` holds for them.
	latest := map[string]claimEvent{}
	waitFor := func(what string, ok func() bool) error {
		for !ok() {
			select {
			case e := <-events:
				latest[e.member] = e
			case <-deadline:
				return fmt.Errorf("waiting for %s: %v", what, latest)
			}
		}
		return nil
	}
	res := map[string]any{}
	stopA, err := start("a")
	if err != nil {
		return nil, err
	}
	defer stopA()
	if err := waitFor("a alone", func() bool { return len(latest["a"].claims) == 2 }); err != nil {
		return res, err
	}
	res["a_alone"] = latest["a"].claims
	genAlone := latest["a"].gen
	stopB, err := start("b")
	if err != nil {
		return res, err
	}
	split := func() bool {
		a, b := latest["a"], latest["b"]
		return a.gen > genAlone && a.gen == b.gen && len(a.claims) == 1 && len(b.claims) == 1
	}
	if err := waitFor("the split", split); err != nil {
		stopB()
		return res, err
	}
	res["split"] = map[string][]int32{"a": latest["a"].claims, "b": latest["b"].claims}
	genSplit := latest["a"].gen
	if err := produceValues(topic, map[int32][]string{0: {"r0"}, 1: {"r1"}}); err != nil {
		stopB()
		return res, err
	}
	var got []string
	for len(got) < 2 {
		select {
		case r := <-received:
			got = append(got, r)
		case <-deadline:
			stopB()
			return res, fmt.Errorf("records after the split: %v", got)
		}
	}
	sort.Strings(got)
	res["received"] = got
	if err := stopB(); err != nil {
		return res, fmt.Errorf("close b: %w", err)
	}
	if err := waitFor("a alone again", func() bool { return latest["a"].gen > genSplit && len(latest["a"].claims) == 2 }); err != nil {
		return res, err
	}
	res["a_after_b_left"] = latest["a"].claims
	res["generations_increase"] = genAlone < genSplit && genSplit < latest["a"].gen
	return res, nil
}

// staticMember: a static member (group.instance.id, KIP-345) closes without leaving and
// comes back under a new member id: a Stable group hands it its assignment again in
// the same generation, without a rebalance.
func staticMember() (any, error) {
	topic, group := *prefix+"-rebalance", *prefix+"-static"
	session := func() (claimEvent, string, error) {
		cfg := config()
		cfg.Consumer.Group.InstanceId = "static-1"
		cg, err := sarama.NewConsumerGroup([]string{*bootstrap}, group, cfg)
		if err != nil {
			return claimEvent{}, "", err
		}
		defer cg.Close()
		events := make(chan claimEvent, 4)
		memberIDs := make(chan string, 4)
		h := &staticHandler{rebalanceHandler{member: "static", topic: topic, events: events, received: make(chan string, 64)}, memberIDs}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- cg.Consume(ctx, []string{topic}, h) }()
		select {
		case e := <-events:
			return e, <-memberIDs, nil
		case err := <-errc:
			return claimEvent{}, "", fmt.Errorf("consume: %v", err)
		case <-time.After(report.Deadline):
			return claimEvent{}, "", errors.New("no session")
		}
	}
	first, firstID, err := session()
	if err != nil {
		return nil, err
	}
	second, secondID, err := session()
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"first_claims": first.claims, "second_claims": second.claims,
		"same_generation": first.gen == second.gen, "new_member_id": firstID != secondID,
	}, nil
}

type staticHandler struct {
	rebalanceHandler
	memberIDs chan<- string
}

func (h *staticHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.memberIDs <- s.MemberID()
	return h.rebalanceHandler.Setup(s)
}
