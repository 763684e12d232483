// Traffic driver for tests/golden/capture.py --record java (not a test by itself).
//
// Usage: java -cp <build>:<zookeeper class path> GoldenJava 127.0.0.1:PORT
// Prints "STEP <label>" before each operation (the proxy tags the frames with
// it) and waits for one line on stdin. "WAIT PING" and "WAIT DROP" lines hand
// control to capture.py as well, which answers once a ping reply was seen /
// once it has cut the TCP connection.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

public class GoldenJava {
    static final BlockingQueue<Watcher.Event.KeeperState> states = new LinkedBlockingQueue<>();
    static final BlockingQueue<WatchedEvent> events = new LinkedBlockingQueue<>();
    static final BufferedReader stdin =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));

    static void step(String label) throws Exception {
        // Synchronous, so that the proxy tags the following frames with it.
        System.out.println("STEP " + label);
        System.out.flush();
        if (stdin.readLine() == null) {
            throw new IllegalStateException("capture.py went away");
        }
    }

    static void handOff(String what) throws Exception {
        System.out.println("WAIT " + what);
        System.out.flush();
        if (stdin.readLine() == null) {
            throw new IllegalStateException("capture.py went away");
        }
    }

    static void awaitState(Watcher.Event.KeeperState want) throws Exception {
        while (true) {
            Watcher.Event.KeeperState s = states.poll(20, TimeUnit.SECONDS);
            if (s == null) {
                throw new IllegalStateException("no " + want);
            }
            if (s == want) {
                return;
            }
        }
    }

    static WatchedEvent awaitEvent() throws Exception {
        WatchedEvent e;
        do {  // node watchers also see the session's None events (Disconnected)
            e = events.poll(20, TimeUnit.SECONDS);
            if (e == null) {
                throw new IllegalStateException("watch did not fire");
            }
        } while (e.getType() == Watcher.Event.EventType.None);
        System.out.println("EVENT " + e.getType() + " " + e.getPath());
        return e;
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    public static void main(String[] args) throws Exception {
        Watcher session = e -> {
            if (e.getType() == Watcher.Event.EventType.None) {
                states.add(e.getState());
            }
        };
        Watcher node = events::add;
        List<org.apache.zookeeper.data.ACL> open = ZooDefs.Ids.OPEN_ACL_UNSAFE;

        step("connect");
        ZooKeeper zk = new ZooKeeper(args[0], 4000, session);
        awaitState(Watcher.Event.KeeperState.SyncConnected);

        step("create persistent /j");
        zk.create("/j", b("root"), open, CreateMode.PERSISTENT);
        step("create2 (with Stat) ephemeral /j/a");
        zk.create("/j/a", b("a"), open, CreateMode.EPHEMERAL, new Stat());
        step("create persistent sequential /j/s-");
        zk.create("/j/s-", new byte[0], open, CreateMode.PERSISTENT_SEQUENTIAL);

        step("getData with watch /j");
        zk.getData("/j", node, new Stat());
        step("setData /j (fires data watch)");
        zk.setData("/j", b("root2"), 0);
        awaitEvent();

        step("getChildren2 with watch /j");
        zk.getChildren("/j", node, new Stat());
        step("exists present /j/a");
        zk.exists("/j/a", false);
        step("exists absent with watch /j/none");
        zk.exists("/j/none", node);
        step("delete with version /j/a (fires child watch)");
        zk.delete("/j/a", 0);
        awaitEvent();

        step("multi ok");
        zk.multi(Arrays.asList(
            Op.create("/j/m", b("m"), open, CreateMode.PERSISTENT),
            Op.setData("/j", b("root3"), 1),
            Op.check("/j", 2),
            Op.delete("/j/m", 0)));
        step("multi failing (NodeExists)");
        try {
            zk.multi(Arrays.asList(
                Op.create("/j/m2", b(""), open, CreateMode.PERSISTENT),
                Op.create("/j", b(""), open, CreateMode.PERSISTENT)));
            throw new IllegalStateException("multi should have failed");
        } catch (KeeperException.NodeExistsException expected) {
            // per-op results are in the reply
        }
        step("getData NoNode /j/none");
        try {
            zk.getData("/j/none", false, null);
            throw new IllegalStateException("expected NoNode");
        } catch (KeeperException.NoNodeException expected) {
            // bare ReplyHeader with err -101
        }

        step("idle");
        handOff("PING");

        step("watches before reconnect");
        zk.getData("/j", node, null);
        zk.getChildren("/j", node);
        zk.exists("/j/later", node);
        handOff("DROP");
        step("reconnect");
        awaitState(Watcher.Event.KeeperState.Disconnected);
        awaitState(Watcher.Event.KeeperState.SyncConnected);
        step("setData /j after reconnect (restored watch fires)");
        zk.setData("/j", b("root4"), -1);
        awaitEvent();

        step("close");
        zk.close();
        System.out.println("DONE");
    }
}
