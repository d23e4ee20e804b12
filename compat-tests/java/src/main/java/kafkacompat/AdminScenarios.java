package kafkacompat;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.PartitionReassignment;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;

/** AdminClient scenarios. */
final class AdminScenarios {
    private AdminScenarios() {}

    private static Map<String, Object> describeTopic(Admin admin, String topic) throws Exception {
        TopicDescription d = Ctx.get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic);
        List<Object> partitions = new ArrayList<>();
        for (TopicPartitionInfo p : d.partitions()) {
            partitions.add(Json.obj(
                    "partition", p.partition(),
                    "leader", p.leader() == null ? null : p.leader().id(),
                    "replicas", p.replicas().stream().map(Node::id).toList(),
                    "isr", p.isr().stream().map(Node::id).toList()));
        }
        return Json.obj("internal", d.isInternal(), "partitions", partitions, "has_topic_id", d.topicId() != null);
    }

    /** create (with configs, validateOnly, duplicate), list, describe, createPartitions, delete. */
    static Object topics(Ctx ctx) throws Exception {
        Admin admin = ctx.admin();
        String a = ctx.name("a");
        String b = ctx.name("b");
        String never = ctx.name("validate-only");
        Ctx.get(admin.createTopics(List.of(
                new NewTopic(a, 3, (short) 1),
                new NewTopic(b, 1, (short) 1).configs(Map.of("cleanup.policy", "compact", "retention.ms", "3600000"))))
                .all());
        Ctx.get(admin.createTopics(List.of(new NewTopic(never, 1, (short) 1)),
                new org.apache.kafka.clients.admin.CreateTopicsOptions().validateOnly(true)).all());
        String duplicate = Ctx.error(admin.createTopics(List.of(new NewTopic(a, 1, (short) 1))).all());
        Set<String> names = Ctx.get(admin.listTopics().names());
        Map<String, Object> describedA = describeTopic(admin, a);

        Config configB = Ctx.get(admin.describeConfigs(List.of(new ConfigResource(ConfigResource.Type.TOPIC, b)))
                .all()).values().iterator().next();
        Ctx.get(admin.createPartitions(Map.of(a, NewPartitions.increaseTo(5))).all());
        Map<String, Object> grownA = describeTopic(admin, a);
        String shrink = Ctx.error(admin.createPartitions(Map.of(a, NewPartitions.increaseTo(2))).all());

        Ctx.get(admin.deleteTopics(List.of(a, b)).all());
        Set<String> afterDelete = Ctx.get(admin.listTopics().names());
        String describeDeleted = Ctx.error(admin.describeTopics(List.of(a)).allTopicNames());
        return Json.obj(
                "listed", List.of(names.contains(a), names.contains(b), names.contains(never)),
                "duplicate_error", duplicate,
                "described", describedA,
                "b_configs", Json.obj(
                        "cleanup.policy", configB.get("cleanup.policy").value(),
                        "retention.ms", configB.get("retention.ms").value(),
                        "retention.ms.source", configB.get("retention.ms").source().toString()),
                "grown_partitions", ((List<?>) grownA.get("partitions")).size(),
                "shrink_error", shrink,
                "listed_after_delete", List.of(afterDelete.contains(a), afterDelete.contains(b)),
                "describe_deleted_error", describeDeleted);
    }

    private static Map<String, Object> entry(Config config, String name) {
        ConfigEntry e = config.get(name);
        if (e == null) return null;
        return Json.obj("value", e.value(), "source", e.source().toString(), "default", e.isDefault(),
                "read_only", e.isReadOnly(), "sensitive", e.isSensitive());
    }

    /** describeConfigs (topic and broker) + incrementalAlterConfigs SET/APPEND/DELETE. */
    static Object configs(Ctx ctx) throws Exception {
        Admin admin = ctx.admin();
        String topic = ctx.name("cfg");
        ctx.createTopic(topic, 1);
        ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Node node = Ctx.get(admin.describeCluster().nodes()).iterator().next();
        ConfigResource brokerRes = new ConfigResource(ConfigResource.Type.BROKER, String.valueOf(node.id()));

        Config before = Ctx.get(admin.describeConfigs(List.of(res)).all()).get(res);
        Config broker = Ctx.get(admin.describeConfigs(List.of(brokerRes)).all()).get(brokerRes);
        Ctx.get(admin.incrementalAlterConfigs(Map.of(res, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("max.message.bytes", "2000000"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.APPEND))))
                .all());
        Config altered = Ctx.get(admin.describeConfigs(List.of(res)).all()).get(res);
        Ctx.get(admin.incrementalAlterConfigs(Map.of(res, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE))))
                .all());
        Config deleted = Ctx.get(admin.describeConfigs(List.of(res)).all()).get(res);
        String invalid = Ctx.error(admin.incrementalAlterConfigs(Map.of(res, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "not-a-number"), AlterConfigOp.OpType.SET))))
                .all());
        String unknownTopic = Ctx.error(admin.describeConfigs(
                List.of(new ConfigResource(ConfigResource.Type.TOPIC, ctx.name("missing")))).all());
        return Json.obj(
                "before", Json.obj("retention.ms", entry(before, "retention.ms"),
                        "cleanup.policy", entry(before, "cleanup.policy")),
                "broker", Json.obj("num.partitions", entry(broker, "num.partitions"),
                        "log.retention.hours", entry(broker, "log.retention.hours"),
                        "count", broker.entries().size()),
                "altered", Json.obj("retention.ms", entry(altered, "retention.ms"),
                        "max.message.bytes", entry(altered, "max.message.bytes"),
                        "cleanup.policy", entry(altered, "cleanup.policy")),
                "deleted", Json.obj("retention.ms", entry(deleted, "retention.ms"),
                        "max.message.bytes", entry(deleted, "max.message.bytes")),
                "invalid_value_error", invalid,
                "unknown_topic_error", unknownTopic);
    }

    private static Map<String, Object> offsets(Admin admin, String group) throws Exception {
        Map<String, Object> out = new TreeMap<>();
        Map<TopicPartition, OffsetAndMetadata> offsets =
                Ctx.get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offsets.entrySet()) {
            out.put(e.getKey().toString(), e.getValue() == null ? null : e.getValue().offset());
        }
        return out;
    }

    @SuppressWarnings("deprecation")  // state(): groupState() is 4.0+, state() is in 3.9 and 4.x
    private static Map<String, Object> describeGroup(Admin admin, String group) throws Exception {
        ConsumerGroupDescription d = Ctx.get(admin.describeConsumerGroups(List.of(group)).describedGroups().get(group));
        List<Object> members = new ArrayList<>();
        for (MemberDescription m : d.members()) {
            List<String> tps = new ArrayList<>();
            for (TopicPartition tp : m.assignment().topicPartitions()) tps.add(tp.toString());
            tps.sort(null);
            members.add(Json.obj("client_id", m.clientId(), "assignment", tps));
        }
        return Json.obj("state", String.valueOf(d.state()), "assignor", d.partitionAssignor(),
                "simple", d.isSimpleConsumerGroup(), "members", members, "coordinator", d.coordinator().id());
    }

    /** list/describe groups, list/alter offsets (a reset), delete; a live member blocks delete. */
    @SuppressWarnings("deprecation")  // listConsumerGroups(): listGroups() is 4.1+
    static Object consumerGroups(Ctx ctx) throws Exception {
        Admin admin = ctx.admin();
        String topic = ctx.name("grp");
        String group = ctx.name("group");
        ctx.createTopic(topic, 2);
        KafkaProducer<String, String> producer = ctx.producer("acks", "all");
        for (int i = 0; i < 8; i++) producer.send(new ProducerRecord<>(topic, i % 2, "k", "v" + i));
        producer.flush();
        KafkaConsumer<String, String> consumer = ctx.consumer("group.id", group, "client.id", "member-1",
                "auto.offset.reset", "earliest", "enable.auto.commit", false);
        consumer.subscribe(List.of(topic));
        Ctx.poll(consumer, 8);
        consumer.commitSync();

        boolean listed = false;
        for (ConsumerGroupListing l : Ctx.get(admin.listConsumerGroups().all())) {
            if (l.groupId().equals(group)) listed = true;
        }
        Map<String, Object> active = describeGroup(admin, group);
        Map<String, Object> committed = offsets(admin, group);
        String deleteActive = Ctx.error(admin.deleteConsumerGroups(List.of(group)).all());
        String alterActive = Ctx.error(admin.alterConsumerGroupOffsets(group,
                Map.of(new TopicPartition(topic, 0), new OffsetAndMetadata(1))).all());
        consumer.close();

        Map<String, Object> empty = describeGroup(admin, group);
        Ctx.get(admin.alterConsumerGroupOffsets(group, Map.of(
                new TopicPartition(topic, 0), new OffsetAndMetadata(1),
                new TopicPartition(topic, 1), new OffsetAndMetadata(2))).all());
        Map<String, Object> reset = offsets(admin, group);
        KafkaConsumer<String, String> again = ctx.consumer("group.id", group,
                "auto.offset.reset", "earliest", "enable.auto.commit", false);
        again.subscribe(List.of(topic));
        List<String> reread = Ctx.values(Ctx.poll(again, 5));
        reread.sort(null);
        again.close();

        Ctx.get(admin.deleteConsumerGroups(List.of(group)).all());
        boolean listedAfterDelete = false;
        for (ConsumerGroupListing l : Ctx.get(admin.listConsumerGroups().all())) {
            if (l.groupId().equals(group)) listedAfterDelete = true;
        }
        return Json.obj(
                "listed", listed,
                "active", active,
                "committed", committed,
                "delete_active_error", deleteActive,
                "alter_active_error", alterActive,
                "empty", empty,
                "after_reset", reset,
                "reread_after_reset", reread,
                "listed_after_delete", listedAfterDelete,
                "offsets_after_delete", offsets(admin, group),
                "delete_unknown_error", Ctx.error(admin.deleteConsumerGroups(List.of(ctx.name("nope"))).all()));
    }

    /** describeCluster + describeFeatures. */
    static Object cluster(Ctx ctx) throws Exception {
        Admin admin = ctx.admin();
        DescribeClusterResult cluster = admin.describeCluster();
        Collection<Node> nodes = Ctx.get(cluster.nodes());
        Node controller = Ctx.get(cluster.controller());
        List<Object> nodeList = new ArrayList<>();
        for (Node n : nodes) nodeList.add(Json.obj("id", n.id(), "host", n.host(), "port", n.port()));
        FeatureMetadata features = Ctx.get(admin.describeFeatures().featureMetadata());
        Map<String, Object> supported = new TreeMap<>();
        features.supportedFeatures().forEach((k, v) -> supported.put(k, List.of(v.minVersion(), v.maxVersion())));
        Map<String, Object> finalized = new TreeMap<>();
        features.finalizedFeatures().forEach((k, v) -> finalized.put(k, List.of(v.minVersionLevel(), v.maxVersionLevel())));
        return Json.obj(
                "cluster_id", Ctx.get(cluster.clusterId()),
                "nodes", nodeList,
                "controller", controller == null ? null : controller.id(),
                "supported_features", supported,
                "finalized_features", finalized,
                "finalized_epoch", features.finalizedFeaturesEpoch());
    }

    /** describeLogDirs: the broker's log dir with the partitions of a topic in it. */
    static Object logDirs(Ctx ctx) throws Exception {
        Admin admin = ctx.admin();
        String topic = ctx.name("dirs");
        ctx.createTopic(topic, 2);
        KafkaProducer<String, String> producer = ctx.producer("acks", "all");
        producer.send(new ProducerRecord<>(topic, 0, "k", "some bytes")).get();
        Node node = Ctx.get(admin.describeCluster().nodes()).iterator().next();
        Map<Integer, Map<String, LogDirDescription>> dirs =
                Ctx.get(admin.describeLogDirs(List.of(node.id())).allDescriptions());
        List<Object> out = new ArrayList<>();
        for (Map.Entry<String, LogDirDescription> e : dirs.get(node.id()).entrySet()) {
            Map<String, Object> replicas = new TreeMap<>();
            for (Map.Entry<TopicPartition, ReplicaInfo> r : e.getValue().replicaInfos().entrySet()) {
                if (r.getKey().topic().equals(topic)) replicas.put(r.getKey().toString(), r.getValue().size());
            }
            out.add(Json.obj("path", e.getKey(),
                    "error", e.getValue().error() == null ? null : e.getValue().error().getClass().getSimpleName(),
                    "replicas", replicas));
        }
        return Json.obj("dirs", out);
    }

    /** deleteRecords moves the log start offset; a consumer starts there. */
    static Object deleteRecords(Ctx ctx) throws Exception {
        Admin admin = ctx.admin();
        String topic = ctx.name("del");
        ctx.createTopic(topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        KafkaProducer<String, String> producer = ctx.producer("acks", "all");
        for (int i = 0; i < 10; i++) producer.send(new ProducerRecord<>(topic, 0, "k", "v" + i));
        producer.flush();
        long low = Ctx.get(admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(4))).lowWatermarks().get(tp))
                .lowWatermark();
        String beyond = Ctx.error(admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(99))).all());
        KafkaConsumer<String, String> consumer = ctx.consumer("auto.offset.reset", "earliest");
        consumer.assign(List.of(tp));
        consumer.seekToBeginning(List.of(tp));
        List<String> values = Ctx.values(Ctx.drain(consumer, 6));
        return Json.obj(
                "low_watermark", low,
                "beyond_hw_error", beyond,
                "beginning", consumer.beginningOffsets(List.of(tp)).get(tp),
                "values", values);
    }

    /** electLeaders on a single node: every partition already has its preferred leader. */
    static Object electLeaders(Ctx ctx) throws Exception {
        Admin admin = ctx.admin();
        String topic = ctx.name("elect");
        ctx.createTopic(topic, 2);
        Set<TopicPartition> tps = Set.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1));
        Map<TopicPartition, Optional<Throwable>> preferred =
                Ctx.get(admin.electLeaders(ElectionType.PREFERRED, tps).partitions());
        Map<String, Object> out = new TreeMap<>();
        for (Map.Entry<TopicPartition, Optional<Throwable>> e : preferred.entrySet()) {
            out.put(e.getKey().toString(), e.getValue().map(t -> t.getClass().getSimpleName()).orElse(null));
        }
        String unknown = Ctx.error(admin.electLeaders(ElectionType.PREFERRED,
                Set.of(new TopicPartition(ctx.name("missing"), 0))).all());
        return Json.obj("preferred", out, "unknown_partition_error", unknown);
    }

    /** alterPartitionReassignments to the replica set it has; list; cancel with none in progress. */
    static Object reassignments(Ctx ctx) throws Exception {
        Admin admin = ctx.admin();
        String topic = ctx.name("reassign");
        ctx.createTopic(topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        Node node = Ctx.get(admin.describeCluster().nodes()).iterator().next();
        Ctx.get(admin.alterPartitionReassignments(
                Map.of(tp, Optional.of(new NewPartitionReassignment(List.of(node.id()))))).all());
        Map<TopicPartition, PartitionReassignment> ongoing = Ctx.get(admin.listPartitionReassignments().reassignments());
        String cancel = Ctx.error(admin.alterPartitionReassignments(Map.of(tp, Optional.empty())).all());
        String badBroker = Ctx.error(admin.alterPartitionReassignments(
                Map.of(tp, Optional.of(new NewPartitionReassignment(List.of(node.id() + 100))))).all());
        return Json.obj(
                "listed_after", ongoing.containsKey(tp),
                "cancel_error", cancel,
                "unknown_broker_error", badBroker,
                "replicas", ((Map<?, ?>) ((List<?>) describeTopic(admin, topic).get("partitions")).get(0)).get("replicas"));
    }

    /** Admin listOffsets (earliest, latest, max timestamp, for a timestamp) and deleteConsumerGroupOffsets. */
    static Object listOffsetsAndDeleteGroupOffsets(Ctx ctx) throws Exception {
        Admin admin = ctx.admin();
        String topic = ctx.name("lo");
        String group = ctx.name("lo-group");
        ctx.createTopic(topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        long base = System.currentTimeMillis() - 60_000;
        KafkaProducer<String, String> producer = ctx.producer("acks", "all", "linger.ms", 0);
        long[] stamps = {0, 5000, 2000, 1000};  // the max timestamp is the second record's
        for (long stamp : stamps) producer.send(new ProducerRecord<>(topic, 0, base + stamp, "k", "v")).get();
        Map<String, Object> out = new TreeMap<>();
        Map<String, org.apache.kafka.clients.admin.OffsetSpec> specs = Map.of(
                "earliest", org.apache.kafka.clients.admin.OffsetSpec.earliest(),
                "latest", org.apache.kafka.clients.admin.OffsetSpec.latest(),
                "max_timestamp", org.apache.kafka.clients.admin.OffsetSpec.maxTimestamp(),
                "for_1500", org.apache.kafka.clients.admin.OffsetSpec.forTimestamp(base + 1500));
        for (Map.Entry<String, org.apache.kafka.clients.admin.OffsetSpec> e : specs.entrySet()) {
            var info = Ctx.get(admin.listOffsets(Map.of(tp, e.getValue())).partitionResult(tp));
            out.put(e.getKey(), List.of(info.offset(), info.timestamp() < 0 ? info.timestamp() : info.timestamp() - base));
        }
        Ctx.get(admin.alterConsumerGroupOffsets(group, Map.of(tp, new OffsetAndMetadata(3))).all());
        Map<String, Object> before = offsets(admin, group);
        Ctx.get(admin.deleteConsumerGroupOffsets(group, Set.of(tp)).all());
        return Json.obj("offsets", out, "group_before", before, "group_after_delete", offsets(admin, group));
    }
}
