package kafkacompat;

import java.io.FileReader;
import java.io.Reader;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.CreateDelegationTokenOptions;
import org.apache.kafka.clients.admin.DescribeDelegationTokenOptions;
import org.apache.kafka.clients.admin.ExpireDelegationTokenOptions;
import org.apache.kafka.clients.admin.RenewDelegationTokenOptions;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.security.auth.KafkaPrincipal;
import org.apache.kafka.common.security.token.delegation.DelegationToken;
import org.apache.kafka.common.security.token.delegation.TokenInformation;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * Delegation tokens with the Java client: {@code TokenMain ALICE.properties ADMIN.properties
 * PLAINTEXT_BOOTSTRAP TOPIC}.
 *
 * <p>alice (SCRAM over SASL_SSL) creates a token with the AdminClient; a second set of clients
 * logs in with it (ScramLoginModule, tokenauth="true") and produces and consumes five records
 * (SecurityMain's round trip);
 * then describe, renew and expire, and the errors Kafka gives: a token login may not create
 * tokens, a PLAINTEXT connection neither, another user may not renew alice's token, an unknown
 * HMAC is not found, and an expired token no longer logs in. Prints one JSON line.
 */
public final class TokenMain {
    private static final long GUARD_S = 60;

    private TokenMain() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "error");
        Properties alice = load(args[0]);
        Properties admin = load(args[1]);
        String plaintext = args[2];
        String topic = args[3];
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("client", AppInfoParser.getVersion());
        try (Admin aliceAdmin = Admin.create(alice); Admin adminAdmin = Admin.create(admin)) {
            DelegationToken token = aliceAdmin.createDelegationToken(
                    new CreateDelegationTokenOptions().maxlifeTimeMs(-1)).delegationToken()
                    .get(GUARD_S, TimeUnit.SECONDS);
            TokenInformation info = token.tokenInfo();
            out.put("token_id", info.tokenId());
            out.put("owner", info.owner().toString());
            out.put("requester", info.tokenRequester().toString());
            out.put("lifetime_ms", info.maxTimestamp() - info.issueTimestamp());
            out.put("renew_ms", info.expiryTimestamp() - info.issueTimestamp());
            out.put("hmac_length", token.hmac().length);

            Properties withToken = tokenLogin(alice, token);
            Properties roundtrip = new Properties();
            roundtrip.putAll(withToken);
            roundtrip.put("case.topic", topic);
            out.put("values", SecurityMain.roundtrip(roundtrip));
            try (Admin tokenAdmin = Admin.create(withToken)) {
                out.put("create_with_token", error(() ->
                        tokenAdmin.createDelegationToken().delegationToken().get(GUARD_S, TimeUnit.SECONDS)));
            }
            Properties plain = new Properties();
            plain.put("bootstrap.servers", plaintext);
            try (Admin plainAdmin = Admin.create(plain)) {
                out.put("create_on_plaintext", error(() ->
                        plainAdmin.createDelegationToken().delegationToken().get(GUARD_S, TimeUnit.SECONDS)));
            }

            // The super user creates one owned by alice (CreateDelegationToken v3).
            DelegationToken forAlice = adminAdmin.createDelegationToken(new CreateDelegationTokenOptions()
                    .owner(new KafkaPrincipal("User", "alice"))
                    .renewers(List.of(new KafkaPrincipal("User", "admin"))))
                    .delegationToken().get(GUARD_S, TimeUnit.SECONDS);
            out.put("for_alice_owner", forAlice.tokenInfo().owner().toString());
            out.put("for_alice_requester", forAlice.tokenInfo().tokenRequester().toString());

            List<String> described = new ArrayList<>();
            for (DelegationToken t : aliceAdmin.describeDelegationToken().delegationTokens()
                    .get(GUARD_S, TimeUnit.SECONDS)) {
                described.add(t.tokenInfo().tokenId() + " " + t.tokenInfo().owner() + " "
                        + t.tokenInfo().tokenRequester() + " " + t.tokenInfo().renewersAsString());
            }
            out.put("described", described);
            List<String> byOwner = new ArrayList<>();
            for (DelegationToken t : adminAdmin.describeDelegationToken(new DescribeDelegationTokenOptions()
                    .owners(List.of(new KafkaPrincipal("User", "admin")))).delegationTokens()
                    .get(GUARD_S, TimeUnit.SECONDS)) {
                byOwner.add(t.tokenInfo().tokenId());
            }
            out.put("described_for_admin", byOwner);
            out.put("for_alice_id", forAlice.tokenInfo().tokenId());

            long before = System.currentTimeMillis();
            long renewed = aliceAdmin.renewDelegationToken(token.hmac(),
                    new RenewDelegationTokenOptions().renewTimePeriodMs(60_000))
                    .expiryTimestamp().get(GUARD_S, TimeUnit.SECONDS);
            out.put("renewed_in_ms", renewed - before);
            out.put("renew_by_other", error(() -> adminAdmin.renewDelegationToken(token.hmac())
                    .expiryTimestamp().get(GUARD_S, TimeUnit.SECONDS)));
            out.put("renew_unknown", error(() -> aliceAdmin.renewDelegationToken(new byte[64])
                    .expiryTimestamp().get(GUARD_S, TimeUnit.SECONDS)));
            out.put("expire_by_renewer", adminAdmin.expireDelegationToken(forAlice.hmac(),
                    new ExpireDelegationTokenOptions().expiryTimePeriodMs(30_000))
                    .expiryTimestamp().get(GUARD_S, TimeUnit.SECONDS) - System.currentTimeMillis() <= 30_000);

            aliceAdmin.expireDelegationToken(token.hmac(),
                    new ExpireDelegationTokenOptions().expiryTimePeriodMs(-1))
                    .expiryTimestamp().get(GUARD_S, TimeUnit.SECONDS);
            out.put("renew_expired", error(() -> aliceAdmin.renewDelegationToken(token.hmac())
                    .expiryTimestamp().get(GUARD_S, TimeUnit.SECONDS)));
            Properties expired = new Properties();
            expired.putAll(withToken);
            expired.put("max.block.ms", "15000");
            out.put("login_after_expire", error(() -> {
                try (KafkaProducer<String, String> producer =
                        new KafkaProducer<>(expired, new StringSerializer(), new StringSerializer())) {
                    return producer.send(new ProducerRecord<>(topic, "late")).get(GUARD_S, TimeUnit.SECONDS);
                }
            }));
            out.put("ok", true);
        }
        System.out.println(Json.write(out));
        System.out.flush();
        System.exit(0);
    }

    static Properties load(String file) throws Exception {
        Properties props = new Properties();
        try (Reader reader = new FileReader(file)) {
            props.load(reader);
        }
        return props;
    }

    static Properties tokenLogin(Properties base, DelegationToken token) {
        Properties props = new Properties();
        props.putAll(base);
        props.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required "
                + "username=\"" + token.tokenInfo().tokenId() + "\" password=\""
                + Base64.getEncoder().encodeToString(token.hmac()) + "\" tokenauth=\"true\";");
        return props;
    }

    interface Call {
        Object run() throws Exception;
    }

    /** The simple name of the root cause of the call's failure, or "none". */
    static String error(Call call) {
        try {
            call.run();
            return "none";
        } catch (Exception e) {
            Throwable root = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            while (root.getCause() != null && root.getCause() != root) root = root.getCause();
            return root.getClass().getSimpleName();
        }
    }
}
