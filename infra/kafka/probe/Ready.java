// Readiness probe run by ../broker after the nodes are started: one JVM that proves the cluster
// takes the writes trial-ledger needs, not just that a port is open.
//
//   java -cp 'lib/*:<classes>' Ready <bootstrap> <expected-nodes> <timeout-seconds> [client.properties]
//
// client.properties (for `up --secure`): the nodes' own principal's librdkafka properties
// (security.protocol, sasl.*, ssl.ca.location), translated to the Java client's settings.
//
// 1. Waits until all expected brokers are registered (Admin describeCluster).
// 2. Creates a probe topic with RF = min(nodes, 3) and min.insync.replicas = 2 on 3 nodes.
// 3. Commits one record in a Kafka transaction (idempotent, acks=all). This also creates
//    __transaction_state, so the first real transaction does not pay for it.
// 4. Reads it back with read_committed in a consumer group and commits the offset. This also
//    creates __consumer_offsets.
// Prints progress to stderr; exits 0 on success, 1 with a reason otherwise.

import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class Ready {
    private static long deadline;
    private static Properties security = new Properties();

    /** The Java client's security settings for a librdkafka SASL_SSL/SCRAM properties file. */
    private static Properties security(String file) throws java.io.IOException {
        Properties in = new Properties();
        try (java.io.Reader r = java.nio.file.Files.newBufferedReader(java.nio.file.Path.of(file))) {
            in.load(r);
        }
        Properties p = new Properties();
        p.put("security.protocol", in.getProperty("security.protocol", "PLAINTEXT").toUpperCase());
        if (in.getProperty("sasl.username") != null) {
            p.put("sasl.mechanism", in.getProperty("sasl.mechanisms", "SCRAM-SHA-512"));
            p.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                    + in.getProperty("sasl.username") + "\" password=\"" + in.getProperty("sasl.password") + "\";");
        }
        if (in.getProperty("ssl.ca.location") != null) {
            p.put("ssl.truststore.type", "PEM");
            p.put("ssl.truststore.location", in.getProperty("ssl.ca.location"));
        }
        return p;
    }

    private static long remainingMs() {
        long r = deadline - System.currentTimeMillis();
        if (r <= 0) {
            throw new IllegalStateException("timed out");
        }
        return r;
    }

    private static void log(String msg) {
        System.err.println("ready-probe: " + msg);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3 && args.length != 4) {
            System.err.println("usage: Ready <bootstrap> <expected-nodes> <timeout-seconds> [client.properties]");
            System.exit(2);
        }
        String bootstrap = args[0];
        int nodes = Integer.parseInt(args[1]);
        deadline = System.currentTimeMillis() + Long.parseLong(args[2]) * 1000L;
        try {
            if (args.length == 4) {
                security = security(args[3]);
            }
            run(bootstrap, nodes);
        } catch (Exception e) {
            Throwable c = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            System.err.println("ready-probe: FAILED: " + c);
            System.exit(1);
        }
        System.exit(0);
    }

    private static void run(String bootstrap, int nodes) throws Exception {
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        String topic = "__trial_ledger_ready_" + suffix;
        short rf = (short) Math.min(nodes, 3);
        int minIsr = nodes >= 3 ? 2 : 1;

        Properties ap = new Properties();
        ap.putAll(security);
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        ap.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
        ap.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "10000");
        try (Admin admin = Admin.create(ap)) {
            while (true) {
                try {
                    int seen = admin.describeCluster().nodes().get(remainingMs(), TimeUnit.MILLISECONDS).size();
                    if (seen >= nodes) {
                        log(seen + " broker(s) registered");
                        break;
                    }
                    log(seen + "/" + nodes + " broker(s) registered; waiting");
                } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
                    log("cluster not answering yet: " + e.getMessage());
                }
                remainingMs();
                Thread.sleep(250);
            }
            NewTopic nt = new NewTopic(topic, 1, rf)
                    .configs(Map.of("min.insync.replicas", Integer.toString(minIsr)));
            while (true) {
                try {
                    admin.createTopics(List.of(nt)).all().get(remainingMs(), TimeUnit.MILLISECONDS);
                    break;
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof TopicExistsException) {
                        break;
                    }
                    log("create topic: " + e.getCause());
                    remainingMs();
                    Thread.sleep(250);
                }
            }
            log("topic " + topic + " created (rf " + rf + ", min.insync.replicas " + minIsr + ")");

            String value = "ready-" + suffix;
            Properties pp = new Properties();
            pp.putAll(security);
            pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            pp.put(ProducerConfig.ACKS_CONFIG, "all");
            pp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
            pp.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "__trial_ledger_ready_" + suffix);
            pp.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "10000");
            pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, Long.toString(remainingMs()));
            pp.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Long.toString(Math.max(remainingMs(), 2000)));
            pp.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "1500");
            pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
                producer.initTransactions();
                producer.beginTransaction();
                producer.send(new ProducerRecord<>(topic, 0, "k", value)).get(remainingMs(), TimeUnit.MILLISECONDS);
                producer.commitTransaction();
            }
            log("transactional write committed");

            Properties cp = new Properties();
            cp.putAll(security);
            cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            cp.put(ConsumerConfig.GROUP_ID_CONFIG, "__trial_ledger_ready_" + suffix);
            cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            cp.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, Long.toString(remainingMs()));
            cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            TopicPartition tp = new TopicPartition(topic, 0);
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp)) {
                consumer.assign(List.of(tp));
                boolean found = false;
                while (!found) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(Math.min(500, remainingMs())))) {
                        if (value.equals(r.value())) {
                            found = true;
                        }
                    }
                }
                consumer.commitSync(Map.of(tp, new OffsetAndMetadata(consumer.position(tp))),
                        Duration.ofMillis(remainingMs()));
            }
            log("read back with read_committed; group offset committed");

            try {
                admin.deleteTopics(Collections.singletonList(topic)).all().get(5, TimeUnit.SECONDS);
            } catch (Exception e) {
                log("could not delete " + topic + " (harmless): " + e);
            }
        }
    }
}
