// The interop suite's driver for the official ZooKeeper Java client.
//
// Reads scenario lines (interop/script.py's format) on stdin and answers each
// with one JSON line on stdout; the protocol is in interop/README.rst ("Clients").
//   @begin HOSTS ROOT    start a scenario: actors connect to HOSTS with chroot ROOT
//   ACTOR OP ARGS...     one step
//   @end                 close every actor's session
// Values are printed raw (absolute zxids, session ids, times): the Python runner
// normalizes them, the same way for every client.
//
// Built by interop/clients.py with javac against Debian's zookeeper.jar.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.admin.ZooKeeperAdmin;
import org.apache.zookeeper.client.FourLetterWordMain;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;

public class ZkDriver {
    static String hosts = "";
    static String root = "";
    static final Map<String, Actor> actors = new LinkedHashMap<>();
    // actor -> "SESSIONID/PASSWORDHEX": the runner closes whatever is left at the end
    static final Map<String, String> sessions = new LinkedHashMap<>();
    static final Map<String, String> newSessions = new LinkedHashMap<>();

    static String sessionOf(ZooKeeper zk) {
        StringBuilder h = new StringBuilder();
        for (byte x : zk.getSessionPasswd()) {
            h.append(String.format("%02x", x & 0xff));
        }
        return zk.getSessionId() + "/" + h;
    }

    // ---------------------------------------------------------------- JSON out
    static String q(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        return b.append('"').toString();
    }

    static String stat(Stat s) {
        if (s == null) {
            return "null";
        }
        return "{\"czxid\":" + s.getCzxid() + ",\"mzxid\":" + s.getMzxid() + ",\"ctime\":" + s.getCtime()
            + ",\"mtime\":" + s.getMtime() + ",\"version\":" + s.getVersion() + ",\"cversion\":" + s.getCversion()
            + ",\"aversion\":" + s.getAversion() + ",\"ephemeralOwner\":" + s.getEphemeralOwner()
            + ",\"dataLength\":" + s.getDataLength() + ",\"numChildren\":" + s.getNumChildren()
            + ",\"pzxid\":" + s.getPzxid() + "}";
    }

    static String data(byte[] b) {
        if (b == null) {
            return "null";
        }
        try {
            return q(StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b)).toString());
        } catch (CharacterCodingException e) {
            StringBuilder h = new StringBuilder();
            for (byte x : b) {
                h.append(String.format("%02x", x & 0xff));
            }
            return "{\"hex\":" + q(h.toString()) + "}";
        }
    }

    static String strings(List<String> xs) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < xs.size(); i++) {
            b.append(i > 0 ? "," : "").append(q(xs.get(i)));
        }
        return b.append("]").toString();
    }

    static String perms(int p) {
        StringBuilder s = new StringBuilder();
        if ((p & 4) != 0) s.append('c');
        if ((p & 8) != 0) s.append('d');
        if ((p & 1) != 0) s.append('r');
        if ((p & 2) != 0) s.append('w');
        if ((p & 16) != 0) s.append('a');
        int extra = p & ~31;
        if (extra != 0) s.append('+').append(extra);
        return s.length() == 0 ? "-" : s.toString();
    }

    static String err(KeeperException e) {
        return "{\"err\":" + q(e.code().name()) + "}";
    }

    // ---------------------------------------------------------------- script in
    static List<String> toks = new ArrayList<>();
    static List<Boolean> quoted = new ArrayList<>();

    static void tokenize(String line) {
        toks = new ArrayList<>();
        quoted = new ArrayList<>();
        int i = 0;
        int n = line.length();
        while (i < n) {
            char c = line.charAt(i);
            if (Character.isWhitespace(c)) {
                i++;
                continue;
            }
            if (c == '#') {
                break;
            }
            if (c == '"') {
                StringBuilder b = new StringBuilder();
                i++;
                while (i < n && line.charAt(i) != '"') {
                    if (line.charAt(i) == '\\' && i + 1 < n) {
                        i++;
                    }
                    b.append(line.charAt(i));
                    i++;
                }
                i++;
                toks.add(b.toString());
                quoted.add(true);
                continue;
            }
            int j = i;
            while (j < n && !Character.isWhitespace(line.charAt(j))) {
                j++;
            }
            toks.add(line.substring(i, j));
            quoted.add(false);
            i = j;
        }
    }

    static List<ACL> acl(String spec) {
        List<ACL> out = new ArrayList<>();
        if (spec.equals("open")) {
            spec = "world:anyone:cdrwa";
        } else if (spec.equals("read")) {
            spec = "world:anyone:r";
        } else if (spec.equals("creator")) {
            spec = "auth::cdrwa";
        } else if (spec.equals("empty")) {
            return out;
        }
        for (String entry : spec.split(",")) {
            int a = entry.indexOf(':');
            int b = entry.lastIndexOf(':');
            String scheme = entry.substring(0, a);
            String id = entry.substring(a + 1, b);
            int p = 0;
            for (char c : entry.substring(b + 1).toCharArray()) {
                p |= c == 'r' ? 1 : c == 'w' ? 2 : c == 'c' ? 4 : c == 'd' ? 8 : c == 'a' ? 16 : 0;
            }
            out.add(new ACL(p, new Id(scheme, id)));
        }
        return out;
    }

    static int intArg(List<String> a, int i, int dflt) {
        return a.size() > i ? Integer.parseInt(a.get(i)) : dflt;
    }

    /** create/create2 arguments (same rules as interop/script.py's CreateArgs). */
    static class CreateArgs {
        String path;
        byte[] data = new byte[0];
        boolean ephemeral;
        boolean sequential;
        boolean container;
        long ttl = -1;
        List<ACL> acl = acl("open");

        CreateArgs(List<String> a, List<Boolean> qa) {
            path = a.get(0);
            int i = 1;
            if (a.size() > 1 && (qa.get(1) || a.get(1).equals("null"))) {
                data = (!qa.get(1) && a.get(1).equals("null")) ? null : a.get(1).getBytes(StandardCharsets.UTF_8);
                i = 2;
            }
            for (; i < a.size(); i++) {
                String w = a.get(i);
                if (w.equals("ephemeral")) {
                    ephemeral = true;
                } else if (w.equals("sequential")) {
                    sequential = true;
                } else if (w.equals("container")) {
                    container = true;
                } else if (w.startsWith("ttl=")) {
                    ttl = Long.parseLong(w.substring(4));
                } else if (w.startsWith("acl=")) {
                    acl = acl(w.substring(4));
                } else if (!w.equals("persistent")) {
                    throw new IllegalStateException("bad create argument " + w);
                }
            }
        }

        CreateMode mode() {
            if (container) {
                return CreateMode.CONTAINER;
            }
            if (ttl >= 0) {
                return sequential ? CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL : CreateMode.PERSISTENT_WITH_TTL;
            }
            if (ephemeral) {
                return sequential ? CreateMode.EPHEMERAL_SEQUENTIAL : CreateMode.EPHEMERAL;
            }
            return sequential ? CreateMode.PERSISTENT_SEQUENTIAL : CreateMode.PERSISTENT;
        }
    }

    // ---------------------------------------------------------------- actors
    static class Actor implements Watcher {
        final String name;
        final ZooKeeperAdmin zk;
        final LinkedBlockingQueue<WatchedEvent> events = new LinkedBlockingQueue<>();
        final CountDownLatch connected = new CountDownLatch(1);
        volatile boolean authFailed;
        final String chroot;

        Actor(String name, int timeoutMs, boolean chroot) throws Exception {
            this.name = name;
            this.chroot = chroot ? root : "";
            zk = new ZooKeeperAdmin(hosts + this.chroot, timeoutMs, this);
            if (!connected.await(20, TimeUnit.SECONDS)) {
                throw new IllegalStateException(name + " did not connect");
            }
        }

        @Override
        public void process(WatchedEvent e) {
            if (e.getType() == Event.EventType.None) {
                if (e.getState() == Event.KeeperState.SyncConnected) {
                    connected.countDown();
                } else if (e.getState() == Event.KeeperState.AuthFailed) {
                    authFailed = true;
                }
                return;
            }
            events.add(e);
        }

        /** Every event sent before this round trip's reply has reached process():
         *  async callbacks run on the same event thread, after earlier events. */
        void barrier() throws Exception {
            CountDownLatch done = new CountDownLatch(1);
            zk.exists("/", false, (rc, path, ctx, st) -> done.countDown(), null);
            if (!done.await(20, TimeUnit.SECONDS)) {
                throw new IllegalStateException("barrier timed out");
            }
        }

        String drain() {
            List<WatchedEvent> got = new ArrayList<>();
            events.drainTo(got);
            StringBuilder b = new StringBuilder("[");
            for (int i = 0; i < got.size(); i++) {
                b.append(i > 0 ? "," : "").append(event(got.get(i)));
            }
            return b.append("]").toString();
        }
    }

    static String event(WatchedEvent e) {
        if (e == null) {
            return "null";
        }
        return "{\"type\":" + q(e.getType().name()) + ",\"state\":" + q(e.getState().name())
            + ",\"path\":" + q(e.getPath()) + "}";
    }

    static Actor actor(String name) throws Exception {
        Actor a = actors.get(name);
        if (a == null) {
            a = new Actor(name, 10000, true);
            actors.put(name, a);
            sessions.put(name, sessionOf(a.zk));
            newSessions.put(name, sessionOf(a.zk));
        }
        return a;
    }

    static void closeAll() {
        for (Actor a : actors.values()) {
            try {
                a.zk.close();
            } catch (Exception e) {
                // closing a dead session: nothing to do
            }
        }
        actors.clear();
    }

    static String sessionsJson(Map<String, String> m) {
        StringBuilder b = new StringBuilder("{");
        int i = 0;
        for (Map.Entry<String, String> e : m.entrySet()) {
            b.append(i++ > 0 ? "," : "").append(q(e.getKey())).append(":").append(q(e.getValue()));
        }
        return b.append("}").toString();
    }

    // ---------------------------------------------------------------- steps
    static String step(String actorName, String op, List<String> a, List<Boolean> qa) throws Exception {
        if (op.equals("connect")) {
            int timeout = 10000;
            boolean chroot = true;
            for (String w : a) {
                if (w.startsWith("timeout=")) {
                    timeout = Integer.parseInt(w.substring(8));
                } else if (w.equals("nochroot")) {
                    chroot = false;
                }
            }
            Actor old = actors.remove(actorName);
            if (old != null) {
                old.zk.close();
            }
            Actor n = new Actor(actorName, timeout, chroot);
            actors.put(actorName, n);
            sessions.put(actorName, sessionOf(n.zk));
            return "{\"session\":" + n.zk.getSessionId() + ",\"timeout\":" + n.zk.getSessionTimeout() + "}";
        }
        Actor act = actor(actorName);
        ZooKeeperAdmin zk = act.zk;
        boolean watch = a.size() > 1 && a.subList(1, a.size()).contains("watch");
        Watcher w = watch ? act : null;
        try {
            switch (op) {
                case "close": {
                    zk.close();
                    actors.remove(actorName);
                    return "{\"ok\":true}";
                }
                case "create":
                case "create2": {
                    CreateArgs c = new CreateArgs(a, qa);
                    Stat st = new Stat();
                    String path;
                    if (c.ttl >= 0) {
                        path = zk.create(c.path, c.data, c.acl, c.mode(), st, c.ttl);
                    } else if (op.equals("create2")) {
                        path = zk.create(c.path, c.data, c.acl, c.mode(), st);
                    } else {
                        path = zk.create(c.path, c.data, c.acl, c.mode());
                    }
                    return op.equals("create2") ? "{\"path\":" + q(path) + ",\"stat\":" + stat(st) + "}"
                        : "{\"path\":" + q(path) + "}";
                }
                case "delete":
                    zk.delete(a.get(0), intArg(a, 1, -1));
                    return "{\"ok\":true}";
                case "exists":
                    return "{\"stat\":" + stat(zk.exists(a.get(0), w)) + "}";
                case "get": {
                    Stat st = new Stat();
                    byte[] d = zk.getData(a.get(0), w, st);
                    return "{\"data\":" + data(d) + ",\"stat\":" + stat(st) + "}";
                }
                case "set": {
                    byte[] d = (!qa.get(1) && a.get(1).equals("null")) ? null : a.get(1).getBytes(StandardCharsets.UTF_8);
                    return "{\"stat\":" + stat(zk.setData(a.get(0), d, intArg(a, 2, -1))) + "}";
                }
                case "children":
                    return "{\"children\":" + strings(zk.getChildren(a.get(0), w)) + "}";
                case "children2": {
                    Stat st = new Stat();
                    List<String> kids = zk.getChildren(a.get(0), w, st);
                    return "{\"children\":" + strings(kids) + ",\"stat\":" + stat(st) + "}";
                }
                case "getacl": {
                    Stat st = new Stat();
                    List<ACL> acls = zk.getACL(a.get(0), st);
                    List<String> xs = new ArrayList<>();
                    for (ACL x : acls) {
                        xs.add(x.getId().getScheme() + ":" + x.getId().getId() + "=" + perms(x.getPerms()));
                    }
                    return "{\"acl\":" + strings(xs) + ",\"stat\":" + stat(st) + "}";
                }
                case "setacl":
                    return "{\"stat\":" + stat(zk.setACL(a.get(0), acl(a.get(1)), intArg(a, 2, -1))) + "}";
                case "sync": {
                    CountDownLatch done = new CountDownLatch(1);
                    AtomicInteger rc = new AtomicInteger();
                    AtomicReference<String> p = new AtomicReference<>();
                    zk.sync(a.get(0), (r, path, ctx) -> {
                        rc.set(r);
                        p.set(path);
                        done.countDown();
                    }, null);
                    done.await(20, TimeUnit.SECONDS);
                    if (rc.get() != 0) {
                        return "{\"err\":" + q(KeeperException.Code.get(rc.get()).name()) + "}";
                    }
                    return "{\"path\":" + q(p.get()) + "}";
                }
                case "multi":
                case "multiread":
                    return multi(zk, a, qa);
                case "auth": {
                    zk.addAuthInfo(a.get(0), a.get(1).getBytes(StandardCharsets.UTF_8));
                    try {
                        act.barrier();
                    } catch (Exception e) {
                        // the server closes the connection after a failed auth
                    }
                    return act.authFailed ? "{\"err\":\"AUTHFAILED\"}" : "{\"ok\":true}";
                }
                case "whoami": {
                    List<String> xs = new ArrayList<>();
                    for (ClientInfo ci : zk.whoAmI()) {
                        xs.add(ci.getAuthScheme() + ":" + ci.getUser());
                    }
                    return "{\"ids\":" + strings(xs) + "}";
                }
                case "ephemerals":
                    return "{\"paths\":" + strings(a.isEmpty() ? zk.getEphemerals() : zk.getEphemerals(a.get(0))) + "}";
                case "count":
                    return "{\"count\":" + zk.getAllChildrenNumber(a.get(0)) + "}";
                case "addwatch":
                    zk.addWatch(a.get(0), act, a.get(1).equals("recursive")
                        ? AddWatchMode.PERSISTENT_RECURSIVE : AddWatchMode.PERSISTENT);
                    return "{\"ok\":true}";
                case "removewatches": {
                    Watcher.WatcherType t = a.get(1).equals("child") ? Watcher.WatcherType.Children
                        : a.get(1).equals("data") ? Watcher.WatcherType.Data : Watcher.WatcherType.Any;
                    zk.removeWatches(a.get(0), act, t, false);
                    return "{\"ok\":true}";
                }
                case "reconfig": {
                    String[] v = new String[3];
                    for (int i = 0; i < 3; i++) {
                        v[i] = a.size() > i && !a.get(i).equals("-") ? a.get(i) : null;
                    }
                    long from = a.size() > 3 ? Long.parseLong(a.get(3)) : -1;
                    Stat st = new Stat();
                    byte[] d = zk.reconfigure(v[0], v[1], v[2], from, st);
                    return "{\"data\":" + data(d) + ",\"stat\":" + stat(st) + "}";
                }
                case "4lw": {
                    String hp = hosts.split(",")[0];
                    int colon = hp.lastIndexOf(':');
                    String text = FourLetterWordMain.send4LetterWord(hp.substring(0, colon),
                        Integer.parseInt(hp.substring(colon + 1)), a.get(0));
                    return "{\"word\":" + q(a.get(0)) + ",\"text\":" + q(text) + "}";
                }
                case "events":
                    act.barrier();
                    return "{\"events\":" + act.drain() + "}";
                case "expect-event": {
                    double secs = a.isEmpty() ? 10.0 : Double.parseDouble(a.get(0));
                    WatchedEvent e = act.events.poll((long) (secs * 1000), TimeUnit.MILLISECONDS);
                    return "{\"event\":" + event(e) + "}";
                }
                default:
                    return "{\"driver_error\":" + q("java driver cannot " + op) + "}";
            }
        } catch (KeeperException e) {
            return err(e);
        } catch (IllegalArgumentException e) {
            return "{\"client_error\":" + q(e.getClass().getSimpleName()) + "}";
        }
    }

    static String multi(ZooKeeper zk, List<String> a, List<Boolean> qa) throws Exception {
        List<Op> ops = new ArrayList<>();
        List<String> kinds = new ArrayList<>();
        List<String> cur = new ArrayList<>();
        List<Boolean> curq = new ArrayList<>();
        List<List<String>> subs = new ArrayList<>();
        List<List<Boolean>> subq = new ArrayList<>();
        for (int i = 0; i <= a.size(); i++) {
            if (i == a.size() || (a.get(i).equals(";") && !qa.get(i))) {
                if (!cur.isEmpty()) {
                    subs.add(cur);
                    subq.add(curq);
                }
                cur = new ArrayList<>();
                curq = new ArrayList<>();
            } else {
                cur.add(a.get(i));
                curq.add(qa.get(i));
            }
        }
        for (int k = 0; k < subs.size(); k++) {
            List<String> s = subs.get(k);
            String sop = s.get(0);
            List<String> args = s.subList(1, s.size());
            List<Boolean> argq = subq.get(k).subList(1, s.size());
            kinds.add(sop);
            switch (sop) {
                case "create": {
                    CreateArgs c = new CreateArgs(args, argq);
                    ops.add(c.ttl >= 0 ? Op.create(c.path, c.data, c.acl, c.mode(), c.ttl)
                        : Op.create(c.path, c.data, c.acl, c.mode()));
                    break;
                }
                case "delete":
                    ops.add(Op.delete(args.get(0), intArg(args, 1, -1)));
                    break;
                case "set":
                    ops.add(Op.setData(args.get(0), args.get(1).getBytes(StandardCharsets.UTF_8), intArg(args, 2, -1)));
                    break;
                case "check":
                    ops.add(Op.check(args.get(0), Integer.parseInt(args.get(1))));
                    break;
                case "get":
                    ops.add(Op.getData(args.get(0)));
                    break;
                case "children":
                    ops.add(Op.getChildren(args.get(0)));
                    break;
                default:
                    throw new IllegalStateException("java driver cannot " + sop + " in a multi");
            }
        }
        List<OpResult> results;
        try {
            results = zk.multi(ops);
        } catch (KeeperException e) {
            results = e.getResults();
            if (results == null) {
                return err(e);
            }
        }
        StringBuilder b = new StringBuilder("{\"results\":[");
        for (int i = 0; i < results.size(); i++) {
            OpResult r = results.get(i);
            String kind = i < kinds.size() ? kinds.get(i) : "?";
            b.append(i > 0 ? "," : "");
            if (r instanceof OpResult.ErrorResult) {
                b.append("{\"type\":\"error\",\"err\":")
                    .append(q(KeeperException.Code.get(((OpResult.ErrorResult) r).getErr()).name())).append("}");
            } else if (r instanceof OpResult.CreateResult) {
                OpResult.CreateResult cr = (OpResult.CreateResult) r;
                b.append("{\"type\":\"create\",\"path\":").append(q(cr.getPath()));
                if (cr.getStat() != null) {
                    b.append(",\"stat\":").append(stat(cr.getStat()));
                }
                b.append("}");
            } else if (r instanceof OpResult.SetDataResult) {
                b.append("{\"type\":\"set\",\"stat\":").append(stat(((OpResult.SetDataResult) r).getStat())).append("}");
            } else if (r instanceof OpResult.GetDataResult) {
                OpResult.GetDataResult g = (OpResult.GetDataResult) r;
                b.append("{\"type\":\"get\",\"data\":").append(data(g.getData())).append(",\"stat\":")
                    .append(stat(g.getStat())).append("}");
            } else if (r instanceof OpResult.GetChildrenResult) {
                b.append("{\"type\":\"children\",\"children\":")
                    .append(strings(((OpResult.GetChildrenResult) r).getChildren())).append("}");
            } else {
                b.append("{\"type\":").append(q(kind)).append("}");
            }
        }
        return b.append("]}").toString();
    }

    public static void main(String[] argv) throws Exception {
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            line = line.trim();
            if (line.isEmpty()) {
                continue;
            }
            String res;
            try {
                if (line.startsWith("@begin ")) {
                    String[] p = line.split(" ");
                    hosts = p[1];
                    root = p.length > 2 ? p[2] : "";
                    sessions.clear();
                    res = "{\"ok\":true}";
                } else if (line.equals("@end")) {
                    closeAll();
                    res = "{\"ok\":true,\"_sessions\":" + sessionsJson(sessions) + "}";
                } else {
                    tokenize(line);
                    newSessions.clear();
                    res = step(toks.get(0), toks.get(1), new ArrayList<>(toks.subList(2, toks.size())),
                        new ArrayList<>(quoted.subList(2, quoted.size())));
                    if (!newSessions.isEmpty() && res.endsWith("}")) {
                        res = res.substring(0, res.length() - 1) + (res.equals("{}") ? "" : ",")
                            + "\"_sessions\":" + sessionsJson(newSessions) + "}";
                    }
                }
            } catch (Exception e) {
                res = "{\"driver_error\":" + q(e.toString()) + "}";
            }
            out.println(res);
        }
        closeAll();
    }
}
