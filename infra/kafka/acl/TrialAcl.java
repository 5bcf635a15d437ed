// The ACL tool of trial-ledger, on Kafka's Java AdminClient (rust-rdkafka's admin client can
// neither create nor describe ACLs). Run through `infra/kafka/broker acl ...`; `trial-ledger
// init --kafka` and `trial-ledger sequencer` call it too.
//
//   TrialAcl apply  --bootstrap B --config FILE --trial T [--sequencer P] [--reader P] [--writers P,P,...]
//                   [--writer-byte-rate BYTES-PER-SECOND]
//   TrialAcl quotas --bootstrap B --config FILE          (prints each user's client quotas)
//   TrialAcl check  --bootstrap B --config FILE --trial T [--sequencer P] [--super-users User:a;User:b]
//   TrialAcl grant-admin --bootstrap B --config FILE [--admin P]
//   TrialAcl add    --bootstrap B --config FILE --principal P --topic NAME --operation OP [--pattern literal|prefixed]
//
// FILE holds librdkafka client properties (security.protocol, sasl.mechanisms, sasl.username,
// sasl.password, ssl.ca.location, ...), the same file the trial-ledger commands take with
// --kafka-config; it is translated to the Java client's settings here.
//
// Exit codes: 0 done (check: no problem found); 1 check found problems (one "problem: ..." line
// each on stdout); 2 bad usage or a bad config file; 3 the cluster refused or did not answer.

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.SecurityDisabledException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;

public final class TrialAcl {
    private static final long TIMEOUT_S = 30;

    /** A usage or configuration error (exit 2). */
    private static final class Usage extends Exception {
        Usage(String m) {
            super(m);
        }
    }

    public static void main(String[] args) {
        try {
            System.exit(run(args));
        } catch (Usage u) {
            System.err.println("acl: " + u.getMessage());
            System.exit(2);
        } catch (Exception e) {
            Throwable c = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            System.err.println("acl: the cluster refused or did not answer: " + c);
            System.exit(3);
        }
    }

    private static int run(String[] args) throws Exception {
        if (args.length == 0) {
            throw new Usage("which command? apply, check, grant-admin, add or quotas");
        }
        Map<String, String> o = options(Arrays.copyOfRange(args, 1, args.length));
        String bootstrap = need(o, "bootstrap");
        Properties props = clientProperties(Path.of(need(o, "config")), bootstrap);
        try (Admin admin = Admin.create(props)) {
            switch (args[0]) {
                case "apply":
                    return apply(admin, o);
                case "check":
                    return check(admin, o);
                case "grant-admin":
                    return grantAdmin(admin, o.getOrDefault("admin", "admin"));
                case "add":
                    return add(admin, o);
                case "quotas":
                    return quotas(admin);
                default:
                    throw new Usage("unknown command '" + args[0] + "'");
            }
        }
    }

    private static Map<String, String> options(String[] a) throws Usage {
        Map<String, String> o = new HashMap<>();
        for (int i = 0; i < a.length; i++) {
            if (!a[i].startsWith("--") || i + 1 >= a.length) {
                throw new Usage("expected --name value pairs, got '" + a[i] + "'");
            }
            o.put(a[i].substring(2), a[++i]);
        }
        return o;
    }

    private static String need(Map<String, String> o, String k) throws Usage {
        String v = o.get(k);
        if (v == null || v.isBlank()) {
            throw new Usage("--" + k + " is required");
        }
        return v;
    }

    // ----------------------------------------------------------------------------------------
    // librdkafka properties -> Java client properties
    // ----------------------------------------------------------------------------------------

    static Properties clientProperties(Path file, String bootstrap) throws Usage {
        Properties in = new Properties();
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            in.load(r);
        } catch (IOException e) {
            throw new Usage("cannot read the client properties " + file + ": " + e.getMessage());
        }
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, Long.toString(TIMEOUT_S * 1000));
        String protocol = in.getProperty("security.protocol", "plaintext").trim().toUpperCase();
        p.put("security.protocol", protocol);
        if (protocol.startsWith("SASL")) {
            String mech = in.getProperty("sasl.mechanisms", in.getProperty("sasl.mechanism", "GSSAPI")).trim().toUpperCase();
            String user = in.getProperty("sasl.username");
            String pass = in.getProperty("sasl.password");
            if (user == null || pass == null) {
                throw new Usage(file + ": security.protocol " + protocol + " needs sasl.username and sasl.password");
            }
            String module;
            if (mech.startsWith("SCRAM-")) {
                module = "org.apache.kafka.common.security.scram.ScramLoginModule";
            } else if (mech.equals("PLAIN")) {
                module = "org.apache.kafka.common.security.plain.PlainLoginModule";
            } else {
                throw new Usage(file + ": sasl.mechanisms " + mech + " is not supported by this tool (SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN)");
            }
            p.put("sasl.mechanism", mech);
            p.put("sasl.jaas.config", module + " required username=\"" + jaasEscape(user)
                    + "\" password=\"" + jaasEscape(pass) + "\";");
        }
        if (protocol.endsWith("SSL")) {
            String ca = in.getProperty("ssl.ca.location");
            if (ca != null) {
                p.put("ssl.truststore.type", "PEM");
                p.put("ssl.truststore.location", ca.trim());
            }
            String cert = in.getProperty("ssl.certificate.location");
            String key = in.getProperty("ssl.key.location");
            if (cert != null && key != null) {
                try {
                    p.put("ssl.keystore.type", "PEM");
                    p.put("ssl.keystore.certificate.chain", Files.readString(Path.of(cert.trim())));
                    p.put("ssl.keystore.key", Files.readString(Path.of(key.trim())));
                } catch (IOException e) {
                    throw new Usage("cannot read " + cert + " / " + key + ": " + e.getMessage());
                }
                if (in.getProperty("ssl.key.password") != null) {
                    p.put("ssl.key.password", in.getProperty("ssl.key.password"));
                }
            }
            String ident = in.getProperty("ssl.endpoint.identification.algorithm", "https").trim();
            // librdkafka says "none" where the Java client wants an empty value.
            p.put("ssl.endpoint.identification.algorithm", ident.equalsIgnoreCase("none") ? "" : ident);
        }
        return p;
    }

    private static String jaasEscape(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }

    // ----------------------------------------------------------------------------------------
    // The matrix (schemas/FORMAT.md section 17b)
    // ----------------------------------------------------------------------------------------

    private static String user(String name) {
        return name.startsWith("User:") ? name : "User:" + name;
    }

    private static AclBinding allow(ResourceType type, String name, PatternType pattern, String principal, AclOperation op) {
        return new AclBinding(new ResourcePattern(type, name, pattern),
                new AccessControlEntry(user(principal), "*", op, AclPermissionType.ALLOW));
    }

    /** The ACL matrix of one trial. */
    static List<AclBinding> matrix(String trial, String sequencer, String reader, List<String> writers) {
        String intake = trial + ".intake";
        String ledger = trial + ".ledger";
        String rejections = trial + ".rejections";
        String checkpoints = trial + ".checkpoints";
        String group = trial + ".sequencer";
        String txnPrefix = trial + ".sequencer";
        String readers = trial + ".reader";
        PatternType lit = PatternType.LITERAL;
        List<AclBinding> b = new ArrayList<>();
        // The sequencer: reads intake, writes (and reads back) the ledger, rejections and
        // checkpoints, owns its consumer group and transactional ids, and may describe the
        // cluster's ACLs and configs and the topics' configs for its safety checks.
        b.add(allow(ResourceType.TOPIC, intake, lit, sequencer, AclOperation.READ));
        for (String t : List.of(ledger, rejections, checkpoints)) {
            b.add(allow(ResourceType.TOPIC, t, lit, sequencer, AclOperation.WRITE));
            b.add(allow(ResourceType.TOPIC, t, lit, sequencer, AclOperation.READ));
        }
        for (String t : List.of(intake, ledger, rejections, checkpoints)) {
            b.add(allow(ResourceType.TOPIC, t, lit, sequencer, AclOperation.DESCRIBE_CONFIGS));
        }
        b.add(allow(ResourceType.GROUP, group, lit, sequencer, AclOperation.READ));
        // Every reader of the trial (the sequencer's rebuild, writers waiting for receipts,
        // followers) assigns partitions by hand under the group id <trial>.reader and commits
        // nothing; librdkafka still looks that group's coordinator up.
        b.add(allow(ResourceType.GROUP, readers, lit, sequencer, AclOperation.READ));
        b.add(allow(ResourceType.TRANSACTIONAL_ID, txnPrefix, PatternType.PREFIXED, sequencer, AclOperation.WRITE));
        b.add(allow(ResourceType.TRANSACTIONAL_ID, txnPrefix, PatternType.PREFIXED, sequencer, AclOperation.DESCRIBE));
        b.add(allow(ResourceType.CLUSTER, "kafka-cluster", lit, sequencer, AclOperation.DESCRIBE));
        b.add(allow(ResourceType.CLUSTER, "kafka-cluster", lit, sequencer, AclOperation.DESCRIBE_CONFIGS));
        b.add(allow(ResourceType.CLUSTER, "kafka-cluster", lit, sequencer, AclOperation.IDEMPOTENT_WRITE));
        // Site writers and deciders: write intake, read the ledger (receipts) and rejections
        // (refusals).
        for (String w : writers) {
            b.add(allow(ResourceType.TOPIC, intake, lit, w, AclOperation.WRITE));
            b.add(allow(ResourceType.TOPIC, ledger, lit, w, AclOperation.READ));
            b.add(allow(ResourceType.TOPIC, rejections, lit, w, AclOperation.READ));
            b.add(allow(ResourceType.GROUP, readers, lit, w, AclOperation.READ));
            b.add(allow(ResourceType.CLUSTER, "kafka-cluster", lit, w, AclOperation.IDEMPOTENT_WRITE));
        }
        // The reader: the ledger and the checkpoints.
        b.add(allow(ResourceType.TOPIC, ledger, lit, reader, AclOperation.READ));
        b.add(allow(ResourceType.TOPIC, checkpoints, lit, reader, AclOperation.READ));
        b.add(allow(ResourceType.GROUP, readers, lit, reader, AclOperation.READ));
        return b;
    }

    private static List<String> list(String csv) {
        List<String> out = new ArrayList<>();
        if (csv != null) {
            for (String s : csv.split(",")) {
                if (!s.isBlank()) {
                    out.add(s.trim());
                }
            }
        }
        return out;
    }

    private static int apply(Admin admin, Map<String, String> o) throws Exception {
        String trial = need(o, "trial");
        String sequencer = o.getOrDefault("sequencer", "sequencer");
        String reader = o.getOrDefault("reader", "reader");
        List<String> writers = list(o.get("writers"));
        List<AclBinding> m = matrix(trial, sequencer, reader, writers);
        admin.createAcls(m).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        System.out.println("created " + m.size() + " ACLs for trial " + trial + " (sequencer " + sequencer
                + ", reader " + reader + ", writers " + String.join(",", writers) + ")");
        // Per-principal produce quotas: a writer principal writes only intake, so its user
        // quota bounds what it can push into the trial's intake (Kafka quotas are per user,
        // not per topic). The sequencer has none: it must keep up with every writer at once.
        long rate = Long.parseLong(o.getOrDefault("writer-byte-rate", "1048576"));
        if (rate > 0 && !writers.isEmpty()) {
            List<org.apache.kafka.common.quota.ClientQuotaAlteration> q = new ArrayList<>();
            for (String w : writers) {
                q.add(new org.apache.kafka.common.quota.ClientQuotaAlteration(
                        new org.apache.kafka.common.quota.ClientQuotaEntity(
                                Map.of(org.apache.kafka.common.quota.ClientQuotaEntity.USER, w)),
                        List.of(new org.apache.kafka.common.quota.ClientQuotaAlteration.Op(
                                "producer_byte_rate", (double) rate))));
            }
            admin.alterClientQuotas(q).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            System.out.println("set producer_byte_rate=" + rate + " for " + String.join(",", writers));
        }
        return 0;
    }

    private static int quotas(Admin admin) throws Exception {
        var all = admin.describeClientQuotas(org.apache.kafka.common.quota.ClientQuotaFilter.all())
                .entities().get(TIMEOUT_S, TimeUnit.SECONDS);
        List<String> lines = new ArrayList<>();
        for (var e : all.entrySet()) {
            String user = e.getKey().entries().get(org.apache.kafka.common.quota.ClientQuotaEntity.USER);
            for (var q : e.getValue().entrySet()) {
                lines.add("User:" + user + " " + q.getKey() + "=" + q.getValue().longValue());
            }
        }
        java.util.Collections.sort(lines);
        lines.forEach(System.out::println);
        return 0;
    }

    /** The break-glass admin: cluster and topic administration, never WRITE on a topic. */
    private static int grantAdmin(Admin admin, String name) throws Exception {
        List<AclBinding> b = new ArrayList<>();
        for (AclOperation op : List.of(AclOperation.ALTER, AclOperation.ALTER_CONFIGS, AclOperation.CREATE,
                AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS)) {
            b.add(allow(ResourceType.CLUSTER, "kafka-cluster", PatternType.LITERAL, name, op));
        }
        for (AclOperation op : List.of(AclOperation.CREATE, AclOperation.DELETE, AclOperation.ALTER,
                AclOperation.ALTER_CONFIGS, AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS)) {
            b.add(allow(ResourceType.TOPIC, "*", PatternType.LITERAL, name, op));
        }
        for (AclOperation op : List.of(AclOperation.DELETE, AclOperation.DESCRIBE)) {
            b.add(allow(ResourceType.GROUP, "*", PatternType.LITERAL, name, op));
        }
        admin.createAcls(b).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        System.out.println("granted " + b.size() + " administrative ACLs to " + user(name));
        return 0;
    }

    private static int add(Admin admin, Map<String, String> o) throws Exception {
        PatternType pattern = PatternType.fromString(o.getOrDefault("pattern", "literal").toUpperCase());
        AclOperation op = AclOperation.fromString(need(o, "operation"));
        if (pattern == PatternType.UNKNOWN || op == AclOperation.UNKNOWN) {
            throw new Usage("--pattern literal|prefixed, --operation READ|WRITE|ALL|...");
        }
        AclBinding b = allow(ResourceType.TOPIC, need(o, "topic"), pattern, need(o, "principal"), op);
        admin.createAcls(List.of(b)).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        System.out.println("created " + b);
        return 0;
    }

    // ----------------------------------------------------------------------------------------
    // The production-mode check
    // ----------------------------------------------------------------------------------------

    private static int check(Admin admin, Map<String, String> o) throws Exception {
        String trial = need(o, "trial");
        String sequencer = user(o.getOrDefault("sequencer", "sequencer"));
        Set<String> allowedSupers = new LinkedHashSet<>();
        for (String s : o.getOrDefault("super-users", "User:broker;User:controller").split("[;,]")) {
            if (!s.isBlank()) {
                allowedSupers.add(user(s.trim()));
            }
        }
        String ledger = trial + ".ledger";
        List<String> problems = new ArrayList<>();

        // 1. Who may write the ledger topic: literal, prefixed and wildcard ACLs that match it.
        AclBindingFilter filter = new AclBindingFilter(
                new ResourcePatternFilter(ResourceType.TOPIC, ledger, PatternType.MATCH),
                AccessControlEntryFilter.ANY);
        Collection<AclBinding> acls;
        try {
            acls = admin.describeAcls(filter).values().get(TIMEOUT_S, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof SecurityDisabledException) {
                problems.add("the cluster has no authorizer: any client may write " + ledger);
                acls = List.of();
            } else {
                throw e;
            }
        }
        for (AclBinding b : acls) {
            AccessControlEntry e = b.entry();
            boolean writes = e.operation() == AclOperation.WRITE || e.operation() == AclOperation.ALL;
            if (e.permissionType() == AclPermissionType.ALLOW && writes && !e.principal().equals(sequencer)) {
                problems.add("ALLOW " + e.operation() + " on " + describe(b.pattern()) + " for "
                        + e.principal() + " (host " + e.host() + "): only " + sequencer + " may write " + ledger);
            }
        }

        // 2. The brokers' authorizer settings. Brokers mask both (DescribeConfigs reports them
        // as sensitive, without a value), so they are read from the brokers' own configuration
        // files when given, and allow.everyone.if.no.acl.found is also probed by behaviour.
        List<String> files = list(o.get("broker-config"));
        for (String f : files) {
            Properties server = new Properties();
            try (Reader r = Files.newBufferedReader(Path.of(f), StandardCharsets.UTF_8)) {
                server.load(r);
            } catch (IOException e) {
                throw new Usage("cannot read the broker configuration " + f + ": " + e.getMessage());
            }
            if (server.getProperty("authorizer.class.name", "").isBlank()) {
                problems.add(f + ": no authorizer.class.name: ACLs are not enforced");
            }
            if ("true".equalsIgnoreCase(server.getProperty("allow.everyone.if.no.acl.found", "false").trim())) {
                problems.add(f + ": allow.everyone.if.no.acl.found=true lets any principal use a resource without ACLs");
            }
            for (String su : server.getProperty("super.users", "").split(";")) {
                if (!su.isBlank() && !allowedSupers.contains(su.trim())) {
                    problems.add(f + ": super user " + su.trim() + " bypasses every ACL (only "
                            + String.join(";", allowedSupers) + " may be super users)");
                }
            }
        }
        String everyone = probeAllowEveryone(admin);
        if (everyone != null) {
            problems.add(everyone);
        }
        if (files.isEmpty()) {
            System.err.println("acl: note: super.users cannot be read over the Kafka API (brokers mask it); "
                    + "give --broker-config with the brokers' server.properties to check it");
        }
        for (String p : problems) {
            System.out.println("problem: " + p);
        }
        if (problems.isEmpty()) {
            System.out.println("ok: only " + sequencer + " may write " + ledger + "; no ACL-less access; super users "
                    + String.join(";", allowedSupers));
            return 0;
        }
        return 1;
    }

    /**
     * Whether the brokers let a principal use a resource that no ACL names: describes the
     * transactions of a random transactional id, which no ACL should match. Refused
     * (TRANSACTIONAL_ID_AUTHORIZATION_FAILED) means allow.everyone.if.no.acl.found=false; any
     * other answer means the broker let the request through. Returns the problem, or null.
     */
    private static String probeAllowEveryone(Admin admin) throws Exception {
        String id = "__trial_ledger_acl_probe_" + java.util.UUID.randomUUID();
        AclBindingFilter f = new AclBindingFilter(
                new ResourcePatternFilter(ResourceType.TRANSACTIONAL_ID, id, PatternType.MATCH),
                AccessControlEntryFilter.ANY);
        try {
            if (!admin.describeAcls(f).values().get(TIMEOUT_S, TimeUnit.SECONDS).isEmpty()) {
                System.err.println("acl: note: wildcard transactional-id ACLs exist; allow.everyone.if.no.acl.found "
                        + "cannot be probed (give --broker-config)");
                return null;
            }
        } catch (ExecutionException e) {
            if (e.getCause() instanceof SecurityDisabledException) {
                return null; // reported above: no authorizer at all
            }
            throw e;
        }
        try {
            admin.describeTransactions(List.of(id)).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof org.apache.kafka.common.errors.TransactionalIdAuthorizationException) {
                return null;
            }
        }
        return "the brokers let a principal use a resource that no ACL names "
                + "(allow.everyone.if.no.acl.found=true, or no authorizer)";
    }

    private static String describe(ResourcePattern p) {
        String kind = p.patternType() == PatternType.PREFIXED ? "prefixed topic" : "topic";
        return p.name().equals("*") ? "every topic (wildcard *)" : kind + " '" + p.name() + "'";
    }
}
