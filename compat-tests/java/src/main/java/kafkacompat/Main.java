package kafkacompat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * Runs scenarios of the Java client against a broker, in one JVM.
 *
 * <p>Usage: {@code Main BOOTSTRAP SCENARIO...} (or {@code all}). Prints one JSON line per
 * scenario: {@code {"scenario": NAME, "client": VERSION, "ok": true, "result": {...}}} or
 * {@code "ok": false, "error": STACKTRACE}; a failing scenario does not stop the others.
 */
public final class Main {
    /** A scenario: takes the context, returns what the client saw (JSON-able). */
    interface Scenario {
        Object run(Ctx ctx) throws Exception;
    }

    /** Guard against a hung scenario (all run at once): reported as failed, the others still reported. */
    private static final long SCENARIO_TIMEOUT_S = 150;

    static final Map<String, Scenario> SCENARIOS = new LinkedHashMap<>();

    static {
        // Before the first logger exists: the clients' warnings and errors only, on stderr.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        SCENARIOS.put("producer_compression", ClientScenarios::producerCompression);
        SCENARIOS.put("consumer_assign_seek", ClientScenarios::consumerAssignSeek);
        SCENARIOS.put("consumer_subscribe_commit", ClientScenarios::consumerSubscribeCommit);
        SCENARIOS.put("consumer_cooperative_rebalance", ClientScenarios::consumerCooperativeRebalance);
        // Not in test_java_client.py yet: the broker has no KIP-848 protocol (issue 12).
        SCENARIOS.put("consumer_protocol_consumer", ClientScenarios::consumerProtocolConsumer);
        SCENARIOS.put("transactions", TxnScenarios::transactions);
        SCENARIOS.put("transactions_consume_transform_produce", TxnScenarios::consumeTransformProduce);
        SCENARIOS.put("admin_transactions", TxnScenarios::adminTransactions);
        SCENARIOS.put("admin_topics", AdminScenarios::topics);
        SCENARIOS.put("admin_configs", AdminScenarios::configs);
        SCENARIOS.put("admin_consumer_groups", AdminScenarios::consumerGroups);
        SCENARIOS.put("admin_cluster", AdminScenarios::cluster);
        SCENARIOS.put("admin_log_dirs", AdminScenarios::logDirs);
        SCENARIOS.put("admin_delete_records", AdminScenarios::deleteRecords);
        SCENARIOS.put("admin_list_offsets", AdminScenarios::listOffsetsAndDeleteGroupOffsets);
        SCENARIOS.put("admin_elect_leaders", AdminScenarios::electLeaders);
        SCENARIOS.put("admin_reassignments", AdminScenarios::reassignments);
        SCENARIOS.put("admin_controller_mutation_quota", QuotaScenarios::controllerMutationQuota);
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: Main BOOTSTRAP SCENARIO... | all; scenarios: " + SCENARIOS.keySet());
            System.exit(2);
        }
        String version = AppInfoParser.getVersion();
        String prefix = "java-" + version.replace('.', '_') + "-" + UUID.randomUUID().toString().substring(0, 8);
        List<String> names = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            if (args[i].equals("all")) names.addAll(SCENARIOS.keySet());
            else names.add(args[i]);
        }
        ExecutorService pool = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        // The scenarios use names of their own, so they run side by side (most of their time
        // is spent waiting, e.g. on group.initial.rebalance.delay.ms); reported in order.
        Map<String, Future<Object>> futures = new LinkedHashMap<>();
        long start = System.nanoTime();
        for (String name : names) {
            Scenario scenario = SCENARIOS.get(name);
            if (scenario == null) continue;
            Ctx ctx = new Ctx(args[0], prefix + "-" + name.replace('_', '-'));
            futures.put(name, pool.submit(() -> {
                try {
                    return scenario.run(ctx);
                } finally {
                    ctx.closeAll();
                }
            }));
        }
        long deadline = start + TimeUnit.SECONDS.toNanos(SCENARIO_TIMEOUT_S);
        for (String name : names) {
            Map<String, Object> line = Json.obj("scenario", name, "client", version);
            Future<Object> future = futures.get(name);
            if (future == null) {
                line.put("ok", false);
                line.put("error", "unknown scenario; known: " + SCENARIOS.keySet());
            } else {
                try {
                    Object result = future.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                    line.put("ok", true);
                    line.put("result", result);
                } catch (TimeoutException e) {
                    future.cancel(true);
                    line.put("ok", false);
                    line.put("error", "timed out after " + SCENARIO_TIMEOUT_S + "s");
                } catch (Exception e) {
                    line.put("ok", false);
                    line.put("error", stackTrace(e.getCause() != null ? e.getCause() : e));
                }
            }
            line.put("seconds_since_start", (System.nanoTime() - start) / 1e9);
            System.out.println(Json.write(line));
            System.out.flush();
        }
        System.exit(0);
    }

    static String stackTrace(Throwable t) {
        StringWriter out = new StringWriter();
        t.printStackTrace(new PrintWriter(out));
        return out.toString();
    }
}
