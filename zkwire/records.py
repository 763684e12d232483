"""Every client-visible record of ZooKeeper's ``zookeeper.jute``, plus the txn
records of its transaction log, declared once with jute constructs.

Field names are ZooKeeper's own (``czxid``, ``ephemeralOwner``, ``cversion``) so
these definitions read side by side with ZooKeeper's documentation.
"""
from __future__ import annotations

from zkwire.jute import Bool, Buffer, Int, Long, Record, UString, Vector

R = Record

# --- data ------------------------------------------------------------------
Id = R("Id", ("scheme", UString), ("id", UString))
ACL = R("ACL", ("perms", Int), ("id", Id))
ACLList = Vector(ACL)
Stat = R(
    "Stat",
    ("czxid", Long), ("mzxid", Long), ("ctime", Long), ("mtime", Long),
    ("version", Int), ("cversion", Int), ("aversion", Int),
    ("ephemeralOwner", Long), ("dataLength", Int), ("numChildren", Int),
    ("pzxid", Long),
)
StatPersisted = R(
    "StatPersisted",
    ("czxid", Long), ("mzxid", Long), ("ctime", Long), ("mtime", Long),
    ("version", Int), ("cversion", Int), ("aversion", Int),
    ("ephemeralOwner", Long), ("pzxid", Long),
)
ClientInfo = R("ClientInfo", ("authScheme", UString), ("user", UString))

# --- session establishment ---------------------------------------------------
# The trailing readOnly byte is optional on the wire (older clients omit it).
ConnectRequest = R(
    "ConnectRequest",
    ("protocolVersion", Int), ("lastZxidSeen", Long), ("timeOut", Int),
    ("sessionId", Long), ("passwd", Buffer),
)
ConnectRequestRO = R(
    "ConnectRequest",
    ("protocolVersion", Int), ("lastZxidSeen", Long), ("timeOut", Int),
    ("sessionId", Long), ("passwd", Buffer), ("readOnly", Bool),
)
ConnectResponse = R(
    "ConnectResponse",
    ("protocolVersion", Int), ("timeOut", Int), ("sessionId", Long), ("passwd", Buffer),
)
ConnectResponseRO = R(
    "ConnectResponse",
    ("protocolVersion", Int), ("timeOut", Int), ("sessionId", Long), ("passwd", Buffer),
    ("readOnly", Bool),
)

# --- headers -------------------------------------------------------------------
RequestHeader = R("RequestHeader", ("xid", Int), ("type", Int))
ReplyHeader = R("ReplyHeader", ("xid", Int), ("zxid", Long), ("err", Int))
MultiHeader = R("MultiHeader", ("type", Int), ("done", Bool), ("err", Int))

# --- requests -------------------------------------------------------------------
AuthPacket = R("AuthPacket", ("type", Int), ("scheme", UString), ("auth", Buffer))
SetWatches = R(
    "SetWatches",
    ("relativeZxid", Long), ("dataWatches", Vector(UString)),
    ("existWatches", Vector(UString)), ("childWatches", Vector(UString)),
)
SetWatches2 = R(
    "SetWatches2",
    ("relativeZxid", Long), ("dataWatches", Vector(UString)),
    ("existWatches", Vector(UString)), ("childWatches", Vector(UString)),
    ("persistentWatches", Vector(UString)), ("persistentRecursiveWatches", Vector(UString)),
)
GetDataRequest = R("GetDataRequest", ("path", UString), ("watch", Bool))
SetDataRequest = R("SetDataRequest", ("path", UString), ("data", Buffer), ("version", Int))
ReconfigRequest = R(
    "ReconfigRequest",
    ("joiningServers", UString), ("leavingServers", UString),
    ("newMembers", UString), ("curConfigId", Long),
)
GetSASLRequest = R("GetSASLRequest", ("token", Buffer))
SetSASLResponse = R("SetSASLResponse", ("token", Buffer))
CreateRequest = R(
    "CreateRequest", ("path", UString), ("data", Buffer), ("acl", ACLList), ("flags", Int),
)
CreateTTLRequest = R(
    "CreateTTLRequest",
    ("path", UString), ("data", Buffer), ("acl", ACLList), ("flags", Int), ("ttl", Long),
)
DeleteRequest = R("DeleteRequest", ("path", UString), ("version", Int))
GetChildrenRequest = R("GetChildrenRequest", ("path", UString), ("watch", Bool))
GetAllChildrenNumberRequest = R("GetAllChildrenNumberRequest", ("path", UString))
GetChildren2Request = R("GetChildren2Request", ("path", UString), ("watch", Bool))
CheckVersionRequest = R("CheckVersionRequest", ("path", UString), ("version", Int))
SyncRequest = R("SyncRequest", ("path", UString))
GetACLRequest = R("GetACLRequest", ("path", UString))
SetACLRequest = R("SetACLRequest", ("path", UString), ("acl", ACLList), ("version", Int))
ExistsRequest = R("ExistsRequest", ("path", UString), ("watch", Bool))
AddWatchRequest = R("AddWatchRequest", ("path", UString), ("mode", Int))
CheckWatchesRequest = R("CheckWatchesRequest", ("path", UString), ("type", Int))
RemoveWatchesRequest = R("RemoveWatchesRequest", ("path", UString), ("type", Int))
GetEphemeralsRequest = R("GetEphemeralsRequest", ("prefixPath", UString))

# --- responses ------------------------------------------------------------------
WatcherEvent = R("WatcherEvent", ("type", Int), ("state", Int), ("path", UString))
ErrorResponse = R("ErrorResponse", ("err", Int))
CreateResponse = R("CreateResponse", ("path", UString))
Create2Response = R("Create2Response", ("path", UString), ("stat", Stat))
ExistsResponse = R("ExistsResponse", ("stat", Stat))
GetDataResponse = R("GetDataResponse", ("data", Buffer), ("stat", Stat))
SetDataResponse = R("SetDataResponse", ("stat", Stat))
GetChildrenResponse = R("GetChildrenResponse", ("children", Vector(UString)))
GetChildren2Response = R("GetChildren2Response", ("children", Vector(UString)), ("stat", Stat))
GetAllChildrenNumberResponse = R("GetAllChildrenNumberResponse", ("totalNumber", Int))
GetACLResponse = R("GetACLResponse", ("acl", ACLList), ("stat", Stat))
SetACLResponse = R("SetACLResponse", ("stat", Stat))
SyncResponse = R("SyncResponse", ("path", UString))
GetEphemeralsResponse = R("GetEphemeralsResponse", ("ephemerals", Vector(UString)))
WhoAmIResponse = R("WhoAmIResponse", ("clientInfo", Vector(ClientInfo)))

# --- transaction log records -------------------------------------------------------
TxnHeader = R(
    "TxnHeader",
    ("clientId", Long), ("cxid", Int), ("zxid", Long), ("time", Long), ("type", Int),
)
TxnDigest = R("TxnDigest", ("version", Int), ("treeDigest", Long))
CreateTxnV0 = R(
    "CreateTxnV0", ("path", UString), ("data", Buffer), ("acl", ACLList), ("ephemeral", Bool),
)
CreateTxn = R(
    "CreateTxn",
    ("path", UString), ("data", Buffer), ("acl", ACLList), ("ephemeral", Bool),
    ("parentCVersion", Int),
)
CreateTTLTxn = R(
    "CreateTTLTxn",
    ("path", UString), ("data", Buffer), ("acl", ACLList), ("parentCVersion", Int),
    ("ttl", Long),
)
CreateContainerTxn = R(
    "CreateContainerTxn",
    ("path", UString), ("data", Buffer), ("acl", ACLList), ("parentCVersion", Int),
)
DeleteTxn = R("DeleteTxn", ("path", UString))
SetDataTxn = R("SetDataTxn", ("path", UString), ("data", Buffer), ("version", Int))
CheckVersionTxn = R("CheckVersionTxn", ("path", UString), ("version", Int))
SetACLTxn = R("SetACLTxn", ("path", UString), ("acl", ACLList), ("version", Int))
SetMaxChildrenTxn = R("SetMaxChildrenTxn", ("path", UString), ("max", Int))
CreateSessionTxn = R("CreateSessionTxn", ("timeOut", Int))
CloseSessionTxn = R("CloseSessionTxn", ("paths2Delete", Vector(UString)))
ErrorTxn = R("ErrorTxn", ("err", Int))
Txn = R("Txn", ("type", Int), ("data", Buffer))
MultiTxn = R("MultiTxn", ("txns", Vector(Txn)))

# --- quorum port (ZooKeeper's org.apache.zookeeper.server.quorum module) ------------
# QuorumPackets follow each other on the quorum port with no framing of their own;
# LearnerInfo is the data of a FOLLOWERINFO or OBSERVERINFO packet.
LearnerInfo = R(
    "LearnerInfo", ("serverid", Long), ("protocolVersion", Int), ("configVersion", Long),
)
QuorumPacket = R(
    "QuorumPacket", ("type", Int), ("zxid", Long), ("data", Buffer), ("authinfo", Vector(Id)),
)
