# Le journal d’audit, pour les auditeurs.
nav-audit = Journal d’audit
audit-title = Journal d’audit
audit-intro = Chaque événement de ce nœud touchant à la sécurité, du plus récent au plus ancien : qui a agi, quoi, quand. Les entrées sont chaînées et signées ; la vérification contrôle qu’aucune n’a été modifiée, supprimée ou déplacée.
audit-verify = Vérifier le journal
audit-export = Télécharger l’export (JSON Lines)
audit-verified = Le journal d’audit est vérifié
audit-not-verified = Le journal d’audit N’EST PAS vérifié
audit-entries = Entrées
audit-checkpoints = Points de contrôle vérifiés
audit-covered = Entrées couvertes par une signature
audit-tree-heads = Têtes d’arbre vérifiées
audit-keys = Clés de signature
audit-head = Empreinte de la dernière entrée
audit-clock-back = L’horloge a reculé à l’entrée { $position }
audit-uncovered = { $count ->
    [one] { $shown } entrée n’est pas encore couverte par une signature (le nœud signe à sa prochaine écriture sur disque).
   *[other] { $shown } entrées ne sont pas encore couvertes par une signature (le nœud signe à sa prochaine écriture sur disque).
}
audit-action = Action
audit-actor = Qui
audit-actor-help = Qui : le nom de compte d’un agent, un code d’État, ou node, operator, stranger, secretariat.
audit-state = État
audit-object = Objet
audit-detail = Détail
actor-node = le nœud
actor-operator = un opérateur
actor-peer = le nœud de { $state }
actor-secretariat = le Secrétariat
actor-stranger = une personne hors de l’annuaire
actor-official = { $name }
