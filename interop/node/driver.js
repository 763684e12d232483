// The interop suite's driver for node-zookeeper-client (npm).
//
// Reads scenario lines (interop/script.py's format) on stdin and answers each
// with one JSON line on stdout, like drivers/java/ZkDriver.java:
//   @begin HOSTS ROOT    start a scenario: actors connect to HOSTS + ROOT (chroot)
//   ACTOR OP ARGS...     one step
//   @end                 close every actor's session
// Values are printed raw (64-bit values as exact integers); the Python runner
// normalizes them.  node-zookeeper-client has no API for containers, TTL
// nodes, create2, sync, whoAmI, getEphemerals, getAllChildrenNumber,
// multiRead, persistent watches, removeWatches or reconfig.
'use strict';

const readline = require('readline');
const zookeeper = require('node-zookeeper-client');

let hosts = '';
let root = '';
let actors = {};
let sessions = {};
let newSessions = {};

const ERR_NAMES = {
    0: 'OK', '-1': 'SYSTEMERROR', '-2': 'RUNTIMEINCONSISTENCY', '-3': 'DATAINCONSISTENCY',
    '-4': 'CONNECTIONLOSS', '-5': 'MARSHALLINGERROR', '-6': 'UNIMPLEMENTED',
    '-7': 'OPERATIONTIMEOUT', '-8': 'BADARGUMENTS', '-12': 'UNKNOWNSESSION',
    '-13': 'NEWCONFIGNOQUORUM', '-14': 'RECONFIGINPROGRESS', '-100': 'APIERROR',
    '-101': 'NONODE', '-102': 'NOAUTH', '-103': 'BADVERSION', '-108': 'NOCHILDRENFOREPHEMERALS',
    '-110': 'NODEEXISTS', '-111': 'NOTEMPTY', '-112': 'SESSIONEXPIRED', '-113': 'INVALIDCALLBACK',
    '-114': 'INVALIDACL', '-115': 'AUTHFAILED', '-118': 'SESSIONMOVED', '-119': 'NOTREADONLY',
    '-120': 'EPHEMERALONLOCALSESSION', '-121': 'NOWATCHER', '-123': 'RECONFIGDISABLED',
};
const EVENT_NAMES = {
    NODE_CREATED: 'NodeCreated', NODE_DELETED: 'NodeDeleted',
    NODE_DATA_CHANGED: 'NodeDataChanged', NODE_CHILDREN_CHANGED: 'NodeChildrenChanged',
};

// ------------------------------------------------------------------ JSON out
// JSON text by hand, so 64-bit values (BigInt) stay exact.
function j(v) {
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (typeof v === 'string') return JSON.stringify(v);
    if (Array.isArray(v)) return '[' + v.map(j).join(',') + ']';
    return '{' + Object.keys(v).map((k) => JSON.stringify(k) + ':' + j(v[k])).join(',') + '}';
}

function long(buf) {
    return Buffer.isBuffer(buf) ? buf.readBigInt64BE(0) : BigInt(buf);
}

function stat(s) {
    if (!s) return null;
    return {
        czxid: long(s.czxid), mzxid: long(s.mzxid), ctime: long(s.ctime), mtime: long(s.mtime),
        version: s.version, cversion: s.cversion, aversion: s.aversion,
        ephemeralOwner: long(s.ephemeralOwner), dataLength: s.dataLength,
        numChildren: s.numChildren, pzxid: long(s.pzxid),
    };
}

function data(b) {
    if (b === null || b === undefined) return null;
    const s = b.toString('utf8');
    if (Buffer.from(s, 'utf8').equals(b)) return s;
    return { hex: b.toString('hex') };
}

function perms(p) {
    let s = '';
    if (p & 4) s += 'c';
    if (p & 8) s += 'd';
    if (p & 1) s += 'r';
    if (p & 2) s += 'w';
    if (p & 16) s += 'a';
    return s || '-';
}

function errName(e) {
    if (e && typeof e.getCode === 'function') {
        return ERR_NAMES[String(e.getCode())] || String(e.getCode());
    }
    return String(e && e.message ? e.message : e);
}

// ------------------------------------------------------------------ script in
function tokenize(line) {
    const toks = [];
    const quoted = [];
    let i = 0;
    while (i < line.length) {
        const c = line[i];
        if (/\s/.test(c)) { i++; continue; }
        if (c === '#') break;
        if (c === '"') {
            let b = '';
            i++;
            while (i < line.length && line[i] !== '"') {
                if (line[i] === '\\' && i + 1 < line.length) i++;
                b += line[i];
                i++;
            }
            i++;
            toks.push(b);
            quoted.push(true);
            continue;
        }
        let k = i;
        while (k < line.length && !/\s/.test(line[k])) k++;
        toks.push(line.slice(i, k));
        quoted.push(false);
        i = k;
    }
    return [toks, quoted];
}

function acl(spec) {
    const named = { open: 'world:anyone:cdrwa', read: 'world:anyone:r', creator: 'auth::cdrwa' };
    if (spec === 'empty') return [];
    spec = named[spec] || spec;
    return spec.split(',').map((entry) => {
        const a = entry.indexOf(':');
        const b = entry.lastIndexOf(':');
        let p = 0;
        for (const ch of entry.slice(b + 1)) {
            p |= { r: 1, w: 2, c: 4, d: 8, a: 16 }[ch] || 0;
        }
        return new zookeeper.ACL(p, new zookeeper.Id(entry.slice(0, a), entry.slice(a + 1, b)));
    });
}

function createArgs(a, q) {
    const c = { path: a[0], data: Buffer.alloc(0), eph: false, seq: false, acl: acl('open') };
    let i = 1;
    if (a.length > 1 && (q[1] || a[1] === 'null')) {
        c.data = Buffer.from(a[1], 'utf8');
        i = 2;
    }
    for (; i < a.length; i++) {
        if (a[i] === 'ephemeral') c.eph = true;
        else if (a[i] === 'sequential') c.seq = true;
        else if (a[i].startsWith('acl=')) c.acl = acl(a[i].slice(4));
        else if (a[i] !== 'persistent') throw new Error('node driver cannot create with ' + a[i]);
    }
    c.mode = (c.eph ? 1 : 0) | (c.seq ? 2 : 0);
    return c;
}

function version(a, i) {
    return a.length > i ? parseInt(a[i], 10) : -1;
}

// ------------------------------------------------------------------ actors
function connectActor(name, timeout, chroot) {
    return new Promise((resolve, reject) => {
        const client = zookeeper.createClient(hosts + (chroot ? root : ''),
            { sessionTimeout: timeout, spinDelay: 100, retries: 0 });
        const actor = { name, client, events: [], waiters: [], authFailed: false };
        actor.watcher = (ev) => {
            actor.events.push({ type: EVENT_NAMES[ev.getName()] || ev.getName(),
                state: 'SyncConnected', path: ev.getPath() });
            const w = actor.waiters;
            actor.waiters = [];
            w.forEach((f) => f());
        };
        const timer = setTimeout(() => reject(new Error(name + ' did not connect')), 20000);
        client.once('connected', () => {
            clearTimeout(timer);
            resolve(actor);
        });
        client.on('authenticationFailed', () => { actor.authFailed = true; });
        client.connect();
    });
}

function sid(actor) {
    return long(actor.client.getSessionId());
}

// "SESSIONID/PASSWORDHEX": the runner closes whatever is left at the end.
function sess(actor) {
    return sid(actor).toString() + '/' + actor.client.getSessionPassword().toString('hex');
}

async function actorFor(name) {
    if (!actors[name]) {
        const a = await connectActor(name, 10000, true);
        actors[name] = a;
        sessions[name] = sess(a);
        newSessions[name] = sess(a);
    }
    return actors[name];
}

function call(fn) {
    return new Promise((resolve) => {
        fn((err, ...rest) => resolve([err, ...rest]));
    });
}

// Every notification sent before a reply is handled before that reply's
// callback: one round trip flushes them.
async function barrier(actor) {
    await call((cb) => actor.client.exists('/', cb));
}

function closeActor(a) {
    return new Promise((resolve) => {
        a.client.once('disconnected', () => resolve());
        a.client.close();
        setTimeout(resolve, 3000);
    });
}

// ------------------------------------------------------------------ steps
async function step(name, op, a, q) {
    if (op === 'connect') {
        let timeout = 10000;
        let chroot = true;
        for (const w of a) {
            if (w.startsWith('timeout=')) timeout = parseInt(w.slice(8), 10);
            if (w === 'nochroot') chroot = false;
        }
        if (actors[name]) await closeActor(actors[name]);
        const n = await connectActor(name, timeout, chroot);
        actors[name] = n;
        sessions[name] = sess(n);
        return { session: sid(n), timeout: n.client.getSessionTimeout() };
    }
    const act = await actorFor(name);
    const zk = act.client;
    const w = a.slice(1).includes('watch') ? act.watcher : undefined;
    let err;
    let r1;
    let r2;
    switch (op) {
        case 'close':
            await closeActor(act);
            delete actors[name];
            return { ok: true };
        case 'create': {
            const c = createArgs(a, q);
            [err, r1] = await call((cb) => zk.create(c.path, c.data, c.acl, c.mode, cb));
            return err ? { err: errName(err) } : { path: r1 };
        }
        case 'delete':
            [err] = await call((cb) => zk.remove(a[0], version(a, 1), cb));
            return err ? { err: errName(err) } : { ok: true };
        case 'exists':
            [err, r1] = await call((cb) => (w ? zk.exists(a[0], w, cb) : zk.exists(a[0], cb)));
            return err ? { err: errName(err) } : { stat: stat(r1) };
        case 'get':
            [err, r1, r2] = await call((cb) => (w ? zk.getData(a[0], w, cb) : zk.getData(a[0], cb)));
            return err ? { err: errName(err) } : { data: data(r1), stat: stat(r2) };
        case 'set':
            [err, r1] = await call((cb) => zk.setData(a[0], Buffer.from(a[1], 'utf8'), version(a, 2), cb));
            return err ? { err: errName(err) } : { stat: stat(r1) };
        case 'children':
        case 'children2':
            [err, r1, r2] = await call((cb) => (w ? zk.getChildren(a[0], w, cb) : zk.getChildren(a[0], cb)));
            if (err) return { err: errName(err) };
            return op === 'children' ? { children: r1 } : { children: r1, stat: stat(r2) };
        case 'getacl':
            [err, r1, r2] = await call((cb) => zk.getACL(a[0], cb));
            if (err) return { err: errName(err) };
            return { acl: r1.map((x) => x.id.scheme + ':' + x.id.id + '=' + perms(x.permission)),
                stat: stat(r2) };
        case 'setacl':
            [err, r1] = await call((cb) => zk.setACL(a[0], acl(a[1]), version(a, 2), cb));
            return err ? { err: errName(err) } : { stat: stat(r1) };
        case 'multi':
            return multi(zk, a, q);
        case 'auth':
            zk.addAuthInfo(a[0], Buffer.from(a[1], 'utf8'));
            await barrier(act);
            await new Promise((res) => setImmediate(res));
            return act.authFailed ? { err: 'AUTHFAILED' } : { ok: true };
        case 'events': {
            await barrier(act);
            const evs = act.events;
            act.events = [];
            return { events: evs };
        }
        case 'expect-event': {
            const secs = a.length ? parseFloat(a[0]) : 10;
            if (!act.events.length) {
                await new Promise((res) => {
                    const t = setTimeout(res, secs * 1000);
                    act.waiters.push(() => { clearTimeout(t); res(); });
                });
            }
            return { event: act.events.length ? act.events.shift() : null };
        }
        default:
            return { driver_error: 'node driver cannot ' + op };
    }
}

async function multi(zk, a, q) {
    const t = zk.transaction();
    const kinds = [];
    let cur = [];
    let curq = [];
    const subs = [];
    for (let i = 0; i <= a.length; i++) {
        if (i === a.length || (a[i] === ';' && !q[i])) {
            if (cur.length) subs.push([cur, curq]);
            cur = [];
            curq = [];
        } else {
            cur.push(a[i]);
            curq.push(q[i]);
        }
    }
    for (const [s, sq] of subs) {
        const args = s.slice(1);
        kinds.push(s[0]);
        if (s[0] === 'create') {
            const c = createArgs(args, sq.slice(1));
            t.create(c.path, c.data, c.acl, c.mode);
        } else if (s[0] === 'delete') {
            t.remove(args[0], version(args, 1));
        } else if (s[0] === 'set') {
            t.setData(args[0], Buffer.from(args[1], 'utf8'), version(args, 2));
        } else if (s[0] === 'check') {
            t.check(args[0], parseInt(args[1], 10));
        } else {
            throw new Error('node driver cannot ' + s[0] + ' in a multi');
        }
    }
    const [err, results] = await call((cb) => t.commit(cb));
    if (!results) return { err: errName(err) };
    return {
        results: results.map((r, i) => {
            if (r.type === -1) return { type: 'error', err: ERR_NAMES[String(r.err)] || String(r.err) };
            const kind = kinds[i];
            if (kind === 'create') return { type: 'create', path: r.path };
            if (kind === 'set') return { type: 'set', stat: stat(r.stat) };
            return { type: kind };
        }),
    };
}

async function main() {
    const rl = readline.createInterface({ input: process.stdin, terminal: false });
    for await (const raw of rl) {
        const line = raw.trim();
        if (!line) continue;
        let res;
        try {
            if (line.startsWith('@begin ')) {
                const p = line.split(' ');
                hosts = p[1];
                root = p[2] || '';
                sessions = {};
                res = { ok: true };
            } else if (line === '@end') {
                for (const k of Object.keys(actors)) await closeActor(actors[k]);
                actors = {};
                res = { ok: true, _sessions: sessions };
            } else {
                const [toks, quoted] = tokenize(line);
                newSessions = {};
                res = await step(toks[0], toks[1], toks.slice(2), quoted.slice(2));
                if (Object.keys(newSessions).length) res._sessions = newSessions;
            }
        } catch (e) {
            // The library's own argument checks (assert) reject some paths and
            // ACLs before sending: the same on both servers, recorded as such.
            if (e && e.code === 'ERR_ASSERTION') res = { client_error: 'AssertionError' };
            else res = { driver_error: String(e && e.stack ? e.stack : e) };
        }
        process.stdout.write(j(res) + '\n');
    }
    for (const k of Object.keys(actors)) actors[k].client.close();
    process.exit(0);
}

main();
