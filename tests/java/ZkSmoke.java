// Smoke test with the official ZooKeeper Java client (run by
// tests/integration/test_java_client.py).
//
// Usage: java -cp <build>:<zookeeper class path> ZkSmoke 127.0.0.1:PORT
// Prints one normalised line per step (no zxids, times or session ids; only
// deterministic stat fields) and exits 0; any unexpected outcome throws and
// exits non-zero. Works under /zksmoke, which must not exist beforehand.

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Stat;

public class ZkSmoke {
    static final List<ACL> OPEN = ZooDefs.Ids.OPEN_ACL_UNSAFE;

    static String stat(Stat s) {
        if (s == null) {
            return "null";
        }
        return "version=" + s.getVersion() + " cversion=" + s.getCversion()
            + " aversion=" + s.getAversion() + " ephemeral=" + (s.getEphemeralOwner() != 0)
            + " dataLength=" + s.getDataLength() + " numChildren=" + s.getNumChildren();
    }

    static String str(byte[] b) {
        return b == null ? "null" : new String(b, StandardCharsets.UTF_8);
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String result(OpResult r) {
        if (r instanceof OpResult.CreateResult) {
            return "create(" + ((OpResult.CreateResult) r).getPath() + ")";
        }
        if (r instanceof OpResult.SetDataResult) {
            return "setData(version=" + ((OpResult.SetDataResult) r).getStat().getVersion() + ")";
        }
        if (r instanceof OpResult.CheckResult) {
            return "check";
        }
        if (r instanceof OpResult.DeleteResult) {
            return "delete";
        }
        if (r instanceof OpResult.ErrorResult) {
            return "error(" + KeeperException.Code.get(((OpResult.ErrorResult) r).getErr()).name()
                + ")";
        }
        return r.getClass().getSimpleName();
    }

    static final class OneShot implements Watcher {
        final CountDownLatch latch = new CountDownLatch(1);
        volatile WatchedEvent event;

        @Override
        public void process(WatchedEvent e) {
            if (e.getType() != Event.EventType.None && event == null) {
                event = e;
                latch.countDown();
            }
        }

        String await() throws InterruptedException {
            if (!latch.await(20, TimeUnit.SECONDS)) {
                throw new IllegalStateException("watch did not fire");
            }
            return event.getType() + " " + event.getPath();
        }
    }

    public static void main(String[] args) throws Exception {
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(args[0], 10000, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        });
        if (!connected.await(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("not connected");
        }
        System.out.println("connected");

        String r = "/zksmoke";
        System.out.println("create persistent -> " + zk.create(r, b("root"), OPEN,
            CreateMode.PERSISTENT));
        System.out.println("create ephemeral -> " + zk.create(r + "/eph", b("e"), OPEN,
            CreateMode.EPHEMERAL));
        System.out.println("create persistent_sequential -> " + zk.create(r + "/seq-", b(""),
            OPEN, CreateMode.PERSISTENT_SEQUENTIAL));
        System.out.println("create ephemeral_sequential -> " + zk.create(r + "/eseq-", b("x"),
            OPEN, CreateMode.EPHEMERAL_SEQUENTIAL));

        OneShot dataWatch = new OneShot();
        Stat st = new Stat();
        byte[] data = zk.getData(r, dataWatch, st);
        System.out.println("getData watch -> data=" + str(data) + " " + stat(st));
        System.out.println("setData -> " + stat(zk.setData(r, b("root-2"), 0)));
        System.out.println("event -> " + dataWatch.await());

        OneShot childWatch = new OneShot();
        List<String> kids = new ArrayList<>(zk.getChildren(r, childWatch));
        Collections.sort(kids);
        System.out.println("getChildren watch -> " + kids);

        System.out.println("exists eph -> " + stat(zk.exists(r + "/eph", false)));
        System.out.println("exists missing -> " + stat(zk.exists(r + "/missing", false)));

        Stat seqStat = zk.exists(r + "/seq-0000000001", false);
        zk.delete(r + "/seq-0000000001", seqStat.getVersion());
        System.out.println("delete version=" + seqStat.getVersion() + " -> ok");
        System.out.println("event -> " + childWatch.await());

        try {
            zk.getData(r + "/missing", false, null);
            throw new IllegalStateException("getData on a missing node succeeded");
        } catch (KeeperException e) {
            System.out.println("getData missing -> " + e.code().name() + " path=" + e.getPath());
        }
        try {
            zk.create(r, b(""), OPEN, CreateMode.PERSISTENT);
            throw new IllegalStateException("create of an existing node succeeded");
        } catch (KeeperException e) {
            System.out.println("create existing -> " + e.code().name() + " path=" + e.getPath());
        }
        try {
            zk.delete(r + "/eph", 5);
            throw new IllegalStateException("delete with a wrong version succeeded");
        } catch (KeeperException e) {
            System.out.println("delete bad version -> " + e.code().name() + " path="
                + e.getPath());
        }

        List<String> ok = new ArrayList<>();
        for (OpResult res : zk.multi(Arrays.asList(
                Op.create(r + "/m", b("m"), OPEN, CreateMode.PERSISTENT),
                Op.setData(r, b("root-3"), 1),
                Op.check(r, 2),
                Op.delete(r + "/m", 0)))) {
            ok.add(result(res));
        }
        System.out.println("multi -> " + ok);
        try {
            zk.multi(Arrays.asList(
                Op.create(r + "/m2", b(""), OPEN, CreateMode.PERSISTENT),
                Op.check(r, 99),
                Op.delete(r + "/eph", -1)));
            throw new IllegalStateException("failing multi succeeded");
        } catch (KeeperException e) {
            List<String> failed = new ArrayList<>();
            for (OpResult res : e.getResults()) {
                failed.add(result(res));
            }
            System.out.println("multi failing -> " + e.code().name() + " " + failed);
        }

        Stat after = new Stat();
        kids = new ArrayList<>(zk.getChildren(r, false, after));
        Collections.sort(kids);
        System.out.println("getChildren -> " + kids + " " + stat(after));

        zk.close();
        System.out.println("closed");
    }
}
