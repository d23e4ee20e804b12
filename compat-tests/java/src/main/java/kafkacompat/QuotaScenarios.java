package kafkacompat;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.CreatePartitionsOptions;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.DeleteTopicsOptions;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.errors.ThrottlingQuotaExceededException;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;

/** Client quotas as the Java Admin meets them. */
final class QuotaScenarios {
    private QuotaScenarios() {}

    /** The error a future failed with: its class and, for a quota violation, the throttle. */
    private static Map<String, Object> outcome(KafkaFuture<?> future) throws Exception {
        try {
            future.get(Ctx.TIMEOUT_S, TimeUnit.SECONDS);
            return Json.obj("error", null);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            Map<String, Object> out = Json.obj("error", cause.getClass().getSimpleName(), "message", cause.getMessage());
            if (cause instanceof ThrottlingQuotaExceededException t) out.put("throttle_ms", t.throttleTimeMs());
            return out;
        }
    }

    /**
     * controller_mutation_rate (KIP-599): 1 partition/s for this scenario's client-id, set with
     * alterClientQuotas (a bucket of 11 with the broker's controller.quota.window.num=11). Then
     * createTopics, createPartitions and deleteTopics over it, each first with
     * retryOnQuotaViolation(false) (refused), then with the default (retried until it goes
     * through); and the unquota'd admin, not limited.
     */
    static Object controllerMutationQuota(Ctx ctx) throws Exception {
        Admin admin = ctx.admin();
        String clientId = ctx.name("limited");
        ClientQuotaEntity entity = new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, clientId));
        Ctx.get(admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity,
                List.of(new ClientQuotaAlteration.Op("controller_mutation_rate", 1.0))))).all());
        Admin limited = ctx.track(Admin.create(ctx.props("client.id", clientId)));
        String t1 = ctx.name("t1");
        String t2 = ctx.name("t2");
        String t3 = ctx.name("t3");

        // t1 takes the whole bucket, t2 the next token (the bucket was not negative), t3 is refused.
        Map<String, KafkaFuture<Void>> first = limited.createTopics(
                List.of(new NewTopic(t1, 11, (short) 1), new NewTopic(t2, 1, (short) 1), new NewTopic(t3, 1, (short) 1)),
                new CreateTopicsOptions().retryOnQuotaViolation(false)).values();
        Map<String, Object> created = new LinkedHashMap<>();
        for (String t : List.of(t1, t2, t3)) created.put(t.substring(t.length() - 2), outcome(first.get(t)));
        Map<String, Object> createRetried = outcome(limited.createTopics(List.of(new NewTopic(t3, 1, (short) 1))).all());

        Map<String, Object> partitionsRefused = outcome(limited.createPartitions(
                Map.of(t2, NewPartitions.increaseTo(2)), new CreatePartitionsOptions().retryOnQuotaViolation(false)).all());
        Map<String, Object> partitionsRetried = outcome(
                limited.createPartitions(Map.of(t2, NewPartitions.increaseTo(2))).all());

        Map<String, Object> deleteRefused = outcome(
                limited.deleteTopics(List.of(t3), new DeleteTopicsOptions().retryOnQuotaViolation(false)).all());
        Map<String, Object> deleteRetried = outcome(limited.deleteTopics(List.of(t3)).all());

        String free = ctx.name("free");
        Map<String, Object> unlimited = outcome(admin.createTopics(List.of(new NewTopic(free, 50, (short) 1))).all());
        Ctx.get(admin.deleteTopics(List.of(t1, t2, free)).all());
        Ctx.get(admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity,
                List.of(new ClientQuotaAlteration.Op("controller_mutation_rate", null))))).all());
        return Json.obj(
                "created", created,
                "create_retried", createRetried,
                "partitions_refused", partitionsRefused,
                "partitions_retried", partitionsRetried,
                "delete_refused", deleteRefused,
                "delete_retried", deleteRetried,
                "unlimited", unlimited);
    }
}
