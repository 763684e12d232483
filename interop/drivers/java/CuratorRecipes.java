// Apache Curator's recipes against one server, for interop/test_curator.py.
//
// Reads lines "RECIPE HOSTS ROOT" on stdin; runs that recipe with two Curator
// clients connected to HOSTS with chroot ROOT, and answers one JSON line:
//   {"steps": ["what happened", ...], "_sessions": {"a": "ID/PASSWORDHEX", ...}}
// Steps hold only what a recipe user sees (who holds the lock, who leads, the
// counter's values, the cache's events); random parts (Curator's lock-node
// GUIDs) are replaced by <guid>.  The Python side compares the steps and the
// final tree of both servers.
//
// Built by interop/clients.py with javac against Debian's libcurator-*-java.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.cache.TreeCache;
import org.apache.curator.framework.recipes.cache.TreeCacheEvent;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

public class CuratorRecipes {
    static final List<String> steps = new ArrayList<>();
    static final Map<String, CuratorFramework> clients = new LinkedHashMap<>();
    static final ExecutorService exec = Executors.newCachedThreadPool();

    static void step(String s) {
        steps.add(s);
    }

    static CuratorFramework client(String name, String connect) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.builder().connectString(connect)
            .sessionTimeoutMs(10000).connectionTimeoutMs(10000).retryPolicy(new RetryNTimes(3, 100)).build();
        c.start();
        if (!c.blockUntilConnected(20, TimeUnit.SECONDS)) {
            throw new IllegalStateException(name + " did not connect");
        }
        clients.put(name, c);
        return c;
    }

    static String guidless(String s) {
        return s.replaceAll("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<guid>");
    }

    static String children(CuratorFramework c, String path) throws Exception {
        List<String> kids = new ArrayList<>();
        for (String k : c.getChildren().forPath(path)) {
            kids.add(guidless(k));
        }
        Collections.sort(kids);
        return kids.toString();
    }

    static void waitChildren(CuratorFramework c, String path, int n) throws Exception {
        long deadline = System.currentTimeMillis() + 10000;
        while (c.getChildren().forPath(path).size() != n && System.currentTimeMillis() < deadline) {
            Thread.sleep(10);
        }
    }

    // ------------------------------------------------------------------ recipes
    static void mutex(String connect) throws Exception {
        CuratorFramework a = client("a", connect);
        CuratorFramework b = client("b", connect);
        // Curator makes missing parents containers, which ZooKeeper deletes once
        // empty (zkwire does not yet; containers_ttl.zks covers that): a plain
        // parent keeps the recipe's tree the same on both.
        a.create().forPath("/lock");
        InterProcessMutex ma = new InterProcessMutex(a, "/lock");
        InterProcessMutex mb = new InterProcessMutex(b, "/lock");
        // A mutex belongs to the thread that acquired it: all of b's calls on one.
        ExecutorService bThread = Executors.newSingleThreadExecutor();
        try {
            ma.acquire();
            step("a holds the lock: " + ma.isAcquiredInThisProcess());
            step("b acquire(300 ms): " + bThread.submit(() -> mb.acquire(300, TimeUnit.MILLISECONDS)).get());
            step("lock nodes: " + children(a, "/lock"));
            Future<Boolean> waiting = bThread.submit(() -> mb.acquire(20, TimeUnit.SECONDS));
            waitChildren(a, "/lock", 2);
            step("lock nodes while b waits: " + children(a, "/lock"));
            ma.release();
            step("b acquire after a released: " + waiting.get(30, TimeUnit.SECONDS));
            step("lock nodes: " + children(a, "/lock"));
            bThread.submit(() -> {
                mb.release();
                return null;
            }).get();
            step("lock nodes after b released: " + children(a, "/lock"));
            ma.acquire();
            step("a holds the lock again: " + ma.isAcquiredInThisProcess());
            step("lock nodes: " + children(a, "/lock"));
        } finally {
            bThread.shutdownNow();
        }
    }

    static void leader(String connect) throws Exception {
        CuratorFramework a = client("a", connect);
        CuratorFramework b = client("b", connect);
        a.create().forPath("/latch");          // a plain parent (see mutex)
        LeaderLatch one = new LeaderLatch(a, "/latch", "one");
        LeaderLatch two = new LeaderLatch(b, "/latch", "two");
        one.start();
        step("one leads: " + one.await(20, TimeUnit.SECONDS));
        two.start();
        waitChildren(a, "/latch", 2);
        step("two leads: " + two.hasLeadership());
        List<String> ps = new ArrayList<>();
        for (Participant p : two.getParticipants()) {
            ps.add(p.getId() + (p.isLeader() ? "*" : ""));
        }
        step("participants (leader starred): " + ps);
        step("leader seen by two: " + two.getLeader().getId());
        step("latch nodes: " + children(a, "/latch"));
        one.close();
        step("two leads after one closed: " + two.await(20, TimeUnit.SECONDS));
        step("leader seen by two: " + two.getLeader().getId());
        two.close();
        waitChildren(a, "/latch", 0);     // close() deletes its node in the background
        step("latch nodes at the end: " + children(a, "/latch"));
    }

    static String av(String what, AtomicValue<Long> v) {
        return what + ": succeeded=" + v.succeeded() + " " + v.preValue() + " -> " + v.postValue();
    }

    static void atomic(String connect) throws Exception {
        CuratorFramework a = client("a", connect);
        CuratorFramework b = client("b", connect);
        DistributedAtomicLong ca = new DistributedAtomicLong(a, "/counter", new RetryNTimes(10, 10));
        DistributedAtomicLong cb = new DistributedAtomicLong(b, "/counter", new RetryNTimes(10, 10));
        step(av("get (no node yet)", ca.get()));
        step(av("a increment", ca.increment()));
        step(av("b increment", cb.increment()));
        step(av("a add 5", ca.add(5L)));
        step(av("b compareAndSet 7 -> 10", cb.compareAndSet(7L, 10L)));
        step(av("a compareAndSet 7 -> 11", ca.compareAndSet(7L, 11L)));
        step(av("b decrement", cb.decrement()));
        step(av("a trySet 42", ca.trySet(42L)));
        step(av("b get", cb.get()));
        step("counter version: " + a.checkExists().forPath("/counter").getVersion());
    }

    static String poll(LinkedBlockingQueue<String> q, String until) throws Exception {
        return poll(q, until, 3000);
    }

    static String poll(LinkedBlockingQueue<String> q, String until, long waitMs) throws Exception {
        List<String> got = new ArrayList<>();
        long deadline = System.currentTimeMillis() + waitMs;
        while (System.currentTimeMillis() < deadline) {
            String e = q.poll(deadline - System.currentTimeMillis(), TimeUnit.MILLISECONDS);
            if (e == null) {
                break;
            }
            got.add(e);
            if (e.equals(until) || e.startsWith(until + " ")) {
                return String.join(", ", got);
            }
        }
        got.add("(timed out waiting for " + until + ")");
        return String.join(", ", got);
    }

    static void treecache(String connect) throws Exception {
        CuratorFramework a = client("a", connect);
        CuratorFramework b = client("b", connect);
        a.create().forPath("/cache", "root".getBytes(StandardCharsets.UTF_8));
        LinkedBlockingQueue<String> q = new LinkedBlockingQueue<>();
        TreeCache cache = TreeCache.newBuilder(a, "/cache").build();
        cache.getListenable().addListener((cl, ev) -> {
            String path = ev.getData() == null ? "" : " " + ev.getData().getPath();
            String data = ev.getData() == null || ev.getData().getData() == null ? ""
                : " " + new String(ev.getData().getData(), StandardCharsets.UTF_8);
            if (ev.getType() != TreeCacheEvent.Type.CONNECTION_RECONNECTED) {
                q.add(ev.getType() + path + data);
            }
        });
        cache.start();
        step("started: " + poll(q, "INITIALIZED"));
        b.create().forPath("/cache/x", "1".getBytes(StandardCharsets.UTF_8));
        step("create /cache/x: " + poll(q, "NODE_ADDED /cache/x"));
        b.setData().forPath("/cache/x", "2".getBytes(StandardCharsets.UTF_8));
        step("set /cache/x: " + poll(q, "NODE_UPDATED /cache/x"));
        b.create().forPath("/cache/x/y", "3".getBytes(StandardCharsets.UTF_8));
        step("create /cache/x/y: " + poll(q, "NODE_ADDED /cache/x/y"));
        b.delete().deletingChildrenIfNeeded().forPath("/cache/x");
        step("delete /cache/x: " + poll(q, "NODE_REMOVED /cache/x"));
        step("cached: " + (cache.getCurrentChildren("/cache") == null ? "null" : cache.getCurrentChildren("/cache").keySet()));
        cache.close();
    }

    static void curatorcache(String connect) throws Exception {
        CuratorFramework a = client("a", connect);
        CuratorFramework b = client("b", connect);
        a.create().forPath("/cc", "root".getBytes(StandardCharsets.UTF_8));
        LinkedBlockingQueue<String> q = new LinkedBlockingQueue<>();
        CuratorCache cache = CuratorCache.build(a, "/cc");
        cache.listenable().addListener(CuratorCacheListener.builder()
            .forCreates(n -> q.add("created " + n.getPath() + " " + new String(n.getData(), StandardCharsets.UTF_8)))
            .forChanges((o, n) -> q.add("changed " + n.getPath() + " " + new String(n.getData(), StandardCharsets.UTF_8)))
            .forDeletes(o -> q.add("deleted " + o.getPath()))
            .forInitialized(() -> q.add("initialized"))
            .build());
        cache.start();
        step("started: " + poll(q, "initialized"));
        b.create().forPath("/cc/x", "1".getBytes(StandardCharsets.UTF_8));
        step("create /cc/x: " + poll(q, "created /cc/x"));
        b.setData().forPath("/cc/x", "2".getBytes(StandardCharsets.UTF_8));
        step("set /cc/x: " + poll(q, "changed /cc/x"));
        b.create().forPath("/cc/x/y", "3".getBytes(StandardCharsets.UTF_8));
        step("create /cc/x/y: " + poll(q, "created /cc/x/y"));
        b.delete().deletingChildrenIfNeeded().forPath("/cc/x");
        step("delete /cc/x: " + poll(q, "deleted /cc/x"));
        List<String> paths = new ArrayList<>();
        cache.stream().forEach(n -> paths.add(n.getPath()));
        Collections.sort(paths);
        step("cached: " + paths);
        cache.close();
    }

    // Curator's builders for the extended node kinds: parents made as
    // containers (creatingParentContainersIfNeeded) and a TTL node; what a
    // user sees is that the server reaps them (its ContainerManager).
    static void ttlcontainer(String connect) throws Exception {
        CuratorFramework a = client("a", connect);
        CuratorFramework b = client("b", connect);
        b.create().creatingParentContainersIfNeeded().forPath("/tc/group/member");
        Stat st = a.getZookeeperClient().getZooKeeper().exists("/tc/group", false);
        // A container's owner is hidden from clients (ZooKeeper reports 0).
        step("parent ephemeralOwner as a client sees it: 0x" + Long.toHexString(st.getEphemeralOwner()));
        LinkedBlockingQueue<String> q = new LinkedBlockingQueue<>();
        a.checkExists().usingWatcher((Watcher) ev -> q.add(ev.getType() + " " + ev.getPath()))
            .forPath("/tc/group");
        b.delete().forPath("/tc/group/member");
        step("emptied container: " + poll(q, "NodeDeleted /tc/group", 15000));
        b.create().withTtl(300).withMode(CreateMode.PERSISTENT_WITH_TTL).forPath("/tc/lease", "x".getBytes(StandardCharsets.UTF_8));
        a.checkExists().usingWatcher((Watcher) ev -> q.add(ev.getType() + " " + ev.getPath()))
            .forPath("/tc/lease");
        step("ttl node: " + poll(q, "NodeDeleted /tc/lease", 15000));
        step("left: " + a.getChildren().forPath("/tc"));
    }

    // ------------------------------------------------------------------ main
    static String q(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    static String session(CuratorFramework c) throws Exception {
        ZooKeeper zk = c.getZookeeperClient().getZooKeeper();
        StringBuilder h = new StringBuilder();
        for (byte x : zk.getSessionPasswd()) {
            h.append(String.format("%02x", x & 0xff));
        }
        return zk.getSessionId() + "/" + h;
    }

    public static void main(String[] argv) throws Exception {
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] p = line.trim().split(" ");
            if (p.length < 3) {
                continue;
            }
            steps.clear();
            clients.clear();
            String connect = p[1] + p[2];
            String error = null;
            try {
                switch (p[0]) {
                    case "mutex": mutex(connect); break;
                    case "leader": leader(connect); break;
                    case "atomic": atomic(connect); break;
                    case "treecache": treecache(connect); break;
                    case "curatorcache": curatorcache(connect); break;
                    case "ttlcontainer": ttlcontainer(connect); break;
                    default: throw new IllegalArgumentException("no recipe " + p[0]);
                }
            } catch (Exception e) {
                error = e.toString();
            }
            StringBuilder b = new StringBuilder("{\"steps\":[");
            for (int i = 0; i < steps.size(); i++) {
                b.append(i > 0 ? "," : "").append(q(steps.get(i)));
            }
            b.append("],\"_sessions\":{");
            int i = 0;
            for (Map.Entry<String, CuratorFramework> e : clients.entrySet()) {
                String s;
                try {
                    s = session(e.getValue());
                } catch (Exception ex) {
                    s = "0/";
                }
                b.append(i++ > 0 ? "," : "").append(q(e.getKey())).append(":").append(q(s));
            }
            b.append("}");
            if (error != null) {
                b.append(",\"error\":").append(q(error));
            }
            b.append("}");
            // The tree is read by the runner before the sessions close.
            out.println(b);
            in.readLine();          // "close": now end the sessions
            for (CuratorFramework c : clients.values()) {
                c.close();
            }
            out.println("{\"closed\":true}");
        }
        exec.shutdownNow();
        System.exit(0);
    }
}
