// SASL (DIGEST-MD5) with the official ZooKeeper Java client (run by
// tests/integration/test_sasl_java.py).
//
// Usage: java -Djava.security.auth.login.config=CLIENT_JAAS -cp ... ZkSasl 127.0.0.1:PORT good|bad
// The JAAS file's Client section names the user.  Prints one line per event
// or step, nothing that changes between runs (no session ids, zxids, times),
// and exits 0; "good" logs in, creates a node only its user may read, shows
// whoAmI and cleans up; "bad" waits for the AuthFailed event and shows what a
// request gets afterwards.

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;

public class ZkSasl {
    public static void main(String[] args) throws Exception {
        BlockingQueue<Watcher.Event.KeeperState> states = new LinkedBlockingQueue<>();
        ZooKeeper zk = new ZooKeeper(args[0], 10000, e -> {
            if (e.getType() == Watcher.Event.EventType.None) {
                states.add(e.getState());
            }
        });
        try {
            Watcher.Event.KeeperState wanted = args[1].equals("good")
                ? Watcher.Event.KeeperState.SaslAuthenticated : Watcher.Event.KeeperState.AuthFailed;
            while (true) {
                Watcher.Event.KeeperState s = states.poll(30, TimeUnit.SECONDS);
                if (s == null) {
                    throw new IllegalStateException("no " + wanted + " event in 30 s");
                }
                System.out.println("event -> " + s);
                if (s == wanted) {
                    break;
                }
            }
            if (args[1].equals("good")) {
                List<ACL> acl = Collections.singletonList(
                    new ACL(org.apache.zookeeper.ZooDefs.Perms.ALL, new Id("sasl", "bob")));
                System.out.println("create sasl:bob -> " + zk.create("/jsasl", "v".getBytes(), acl,
                                                                      CreateMode.PERSISTENT));
                System.out.println("getData -> " + new String(zk.getData("/jsasl", false, null)));
                List<String> ids = new ArrayList<>();
                for (ClientInfo ci : zk.whoAmI()) {
                    ids.add(ci.getAuthScheme() + ":" + ci.getUser());
                }
                Collections.sort(ids);
                System.out.println("whoAmI -> " + ids);
                zk.delete("/jsasl", -1);
                System.out.println("delete -> ok");
            } else {
                try {
                    zk.exists("/", false);
                    System.out.println("exists -> ok");
                } catch (KeeperException e) {
                    System.out.println("exists -> " + e.code());
                }
            }
        } finally {
            zk.close();
        }
        System.out.println("closed");
    }
}
