# El marco de la consola, el inicio de sesión, los errores, las fechas y el panel.
skip-to-content = Ir al contenido
logout = Cerrar sesión
nav-label = Consola
footer = veim — Mecanismo de intercambio voluntario de información del Tratado sobre el Comercio de Armas
back-to-dashboard = Volver al panel
node-national = Nodo nacional de { $state }
node-secretariat = Nodo de la Secretaría del TCA
language-label = Idioma

login-title = Iniciar sesión en la consola
login-intro = La sección restringida de este nodo, para los funcionarios que lo gestionan. Use el nombre y la contraseña que le dio su administrador.
login-name = Nombre de la cuenta
login-password = Contraseña
login-code = Código de su aplicación de autenticación
login-code-help = Solo si su cuenta tiene un segundo factor: los 6 dígitos que muestra ahora la aplicación.
login-submit = Iniciar sesión
login-expired = Su sesión ha caducado. Inicie sesión de nuevo para continuar.
login-logged-out = Ha cerrado la sesión.
login-refused = El nombre, la contraseña o el código no son correctos. Inténtelo de nuevo; tras varios fallos tendrá que esperar antes del siguiente intento.
login-too-fast = Demasiados inicios de sesión fallidos en poco tiempo. Espere unos segundos e inténtelo de nuevo.
login-wait = Demasiados inicios de sesión fallidos para esta cuenta. Espere { $minutes } minuto(s) antes del siguiente intento, o consulte a su administrador.
login-unavailable = El nodo no puede comprobar los inicios de sesión en este momento. Inténtelo dentro de un momento; si continúa, avise al administrador del nodo.

error-foreign-heading = Rechazado
error-foreign = Esta solicitud vino de una página de otro sitio o de otra dirección. La consola solo responde a sus propias páginas; ábrala desde su propia dirección.
error-not-found-heading = Página no encontrada
error-not-found = No hay ninguna página en esta dirección de la consola.
error-form-heading = No se pudo leer el formulario
error-form-too-large = El formulario es demasiado grande.
error-csrf-heading = Formulario rechazado
error-csrf = Este formulario no procede de su sesión de la consola (puede ser una página antigua o de otro sitio). Vuelva a cargar la página y envíelo de nuevo.

api-error = El nodo lo rechazó
api-error-not-permitted = Sus funciones no lo permiten
api-error-invalid = Hay campos que corregir
api-error-unknown-recipient = Destinatario desconocido
api-error-not-admitted = Este nodo no está admitido en la red
api-error-refused = Rechazado por el destinatario
api-error-wrong-role = No se hace en este tipo de nodo
api-error-bad-query = Los filtros no son correctos
api-error-unknown-exchange = No existe ese intercambio
api-error-same-official = Debe aprobarlo un segundo funcionario
api-error-store = El nodo no puede leer ni escribir su base de datos
api-error-not-found = No encontrado
api-error-no-consent = Ningún consentimiento cubre esto

month-1 = enero
month-2 = febrero
month-3 = marzo
month-4 = abril
month-5 = mayo
month-6 = junio
month-7 = julio
month-8 = agosto
month-9 = septiembre
month-10 = octubre
month-11 = noviembre
month-12 = diciembre
date-day = { $day } de { $month } de { $year }
date-time = { $date }, { $time } UTC

list-total = { $count ->
    [one] { $shown } elemento
   *[other] { $shown } elementos
}
list-empty = Nada que mostrar.
pager-label = Páginas
pager-previous = ← Anterior
pager-next = Siguiente →
pager-page = Página

nav-dashboard = Panel
nav-inbox = Recibidos
nav-outbox = Enviados
nav-exchanges = Intercambios
nav-compose = Nueva solicitud

dash-title = Panel
dash-needs-me = Lo que requiere atención
dash-to-do = pendiente
dash-requests = Solicitudes que esperan nuestra respuesta
dash-see-exchanges = Ver los intercambios abiertos
dash-overdue = Intercambios atrasados
dash-consents = Consentimientos que se nos piden
dash-failed = Entregas fallidas
dash-see-outbox = Ver los enviados
dash-disclosures = Divulgaciones que esperan a un segundo funcionario
dash-registrations = Inscripciones por revisar
dash-contacts = Puntos de contacto por revisar
dash-health = Estado del nodo
health-ready = Listo
health-not-ready = No está listo
health-check = Comprobación
health-state = Estado
health-detail = Detalle
health-ok = Correcto
health-failing = Con fallos
health-store = Base de datos
health-network = Red
health-directory = Directorio
summary-purged = (contenido eliminado según la política de conservación)
