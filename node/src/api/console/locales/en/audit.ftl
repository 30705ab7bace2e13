# The audit log, for auditors.
# Every key here must exist in fr/audit.ftl and es/audit.ftl.
nav-audit = Audit log
audit-title = Audit log
audit-intro = Every security-relevant event of this node, newest first: who acted, what, when. The entries are chained and signed; verifying checks that none was changed, removed or reordered.
audit-verify = Verify the log
audit-export = Download the export (JSON Lines)
audit-verified = The audit log verifies
audit-not-verified = The audit log does NOT verify
audit-entries = Entries
audit-checkpoints = Checkpoints checked
audit-covered = Entries covered by a signature
audit-tree-heads = Tree heads checked
audit-keys = Signing keys
audit-head = Hash of the last entry
audit-clock-back = The clock went back at entry { $position }
audit-uncovered = { $count ->
    [one] { $shown } entry is not yet covered by a signature (the node signs at its next flush).
   *[other] { $shown } entries are not yet covered by a signature (the node signs at its next flush).
}
audit-action = Action
audit-actor = Who
audit-actor-help = Who: an official's account name, a State code, or node, operator, stranger, secretariat.
audit-state = State
audit-object = Object
audit-detail = Detail
actor-node = the node
actor-operator = an operator
actor-peer = the node of { $state }
actor-secretariat = the Secretariat
actor-stranger = someone outside the directory
actor-official = { $name }
