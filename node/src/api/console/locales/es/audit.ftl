# El registro de auditoría, para los auditores.
nav-audit = Registro de auditoría
audit-title = Registro de auditoría
audit-intro = Cada evento de este nodo relevante para la seguridad, del más reciente al más antiguo: quién actuó, qué hizo y cuándo. Las entradas están encadenadas y firmadas; la verificación comprueba que ninguna fue modificada, suprimida o reordenada.
audit-verify = Verificar el registro
audit-export = Descargar la exportación (JSON Lines)
audit-verified = El registro de auditoría se verifica
audit-not-verified = El registro de auditoría NO se verifica
audit-entries = Entradas
audit-checkpoints = Puntos de control comprobados
audit-covered = Entradas cubiertas por una firma
audit-tree-heads = Cabezas de árbol comprobadas
audit-keys = Claves de firma
audit-head = Huella de la última entrada
audit-clock-back = El reloj retrocedió en la entrada { $position }
audit-uncovered = { $count ->
    [one] { $shown } entrada aún no está cubierta por una firma (el nodo firma en su próxima escritura a disco).
   *[other] { $shown } entradas aún no están cubiertas por una firma (el nodo firma en su próxima escritura a disco).
}
audit-action = Acción
audit-actor = Quién
audit-actor-help = Quién: el nombre de cuenta de un funcionario, un código de Estado, o node, operator, stranger, secretariat.
audit-state = Estado
audit-object = Objeto
audit-detail = Detalle
actor-node = el nodo
actor-operator = un operador
actor-peer = el nodo de { $state }
actor-secretariat = la Secretaría
actor-stranger = alguien fuera del directorio
actor-official = { $name }
