# El directorio y los puntos de contacto, los contactos de este Estado y la
# página pública del directorio.
nav-directory = Directorio
nav-contacts = Nuestros contactos
directory-title = Directorio y puntos de contacto
directory-version = Versión del directorio
directory-issued = publicada el
directory-search-state = Estado (código o nombre)
directory-search-region = Región
directory-search-language = Idioma de trabajo
directory-search-role = Función de un contacto
directory-none = Ningún Estado coincide.
directory-total = { $count ->
    [one] { $shown } Estado
   *[other] { $shown } Estados
}
directory-region = Región
directory-fingerprint = Huella de la clave
directory-operator = Operador
directory-admitted = Admitido el
directory-entry = Inscripción
directory-no-contacts = Todavía no figura ningún punto de contacto.
visibility-public = Pública
visibility-restricted = Solo Estados Partes
contacts-caption = Puntos de contacto
contact-role = Función
contact-field-name = Nombre
contact-field-job-title = Cargo
contact-field-ministry = Ministerio u organismo
contact-field-emails = Correo electrónico
contact-field-phones = Teléfono
contact-field-office-address = Dirección de la oficina
contact-field-languages = Idiomas de trabajo
role-national-poc = Punto de contacto nacional
role-alternate = Suplente
role-focal-point = Punto focal
role-focal-point-for = Punto focal para { $what }
entry-active = Activo
entry-suspended = Suspendido
entry-withdrawn = Retirado
region-africa = África
region-americas = Américas
region-asia = Asia
region-europe = Europa
region-oceania = Oceanía
region-australia-and-new-zealand = Australia y Nueva Zelandia
region-caribbean = Caribe
region-central-america = América Central
region-central-asia = Asia Central
region-eastern-africa = África Oriental
region-eastern-asia = Asia Oriental
region-eastern-europe = Europa Oriental
region-melanesia = Melanesia
region-micronesia = Micronesia
region-middle-africa = África Central
region-northern-africa = África Septentrional
region-northern-america = América Septentrional
region-northern-europe = Europa Septentrional
region-polynesia = Polinesia
region-south-america = América del Sur
region-south-eastern-asia = Asia Sudoriental
region-southern-africa = África Meridional
region-southern-asia = Asia Meridional
region-southern-europe = Europa Meridional
region-western-africa = África Occidental
region-western-asia = Asia Occidental
region-western-europe = Europa Occidental
language-en = inglés
language-fr = francés
language-es = español
language-ar = árabe
language-ru = ruso
language-zh = chino
language-pt = portugués
language-de = alemán

contacts-title = Nuestros puntos de contacto
contacts-standing = Estado de nuestro envío
contacts-submitted-at = enviado el
contacts-none-yet = Este Estado todavía no ha enviado sus puntos de contacto.
contacts-submit-heading = Enviar nuestros puntos de contacto
contacts-submit-help = La lista completa se firma con la clave de este nodo y se envía a la Secretaría, que la acepta en el directorio o la rechaza indicando el motivo. Deje un contacto en blanco para quitarlo; el último bloque sirve para añadir un contacto.
contacts-entry-visibility = Nuestra inscripción en la sección pública del directorio
contacts-entry-public = Pública
contacts-entry-restricted = Solo Estados Partes
contacts-contact = Contacto
contact-focal-point-for = Punto focal para (solo para un punto focal)
contact-visibility = Quién puede ver este contacto
contact-restricted-fields = Campos excluidos de la sección pública
contacts-list-help = Correos, teléfonos e idiomas: varios, separados por comas. Los idiomas con códigos de dos letras (en, fr, es).
contacts-submit = Firmar y enviar
contacts-submitted = Nuestros puntos de contacto se firmaron y enviaron.
contacts-submitted-status = Nuestros puntos de contacto se firmaron y enviaron: { $status }.

contacts-kept = firmado y guardado; el nodo lo entrega a la Secretaría en su próxima sincronización
contacts-pending = pendiente del examen de la Secretaría
contacts-accepted = aceptado; en la versión { $version } del directorio
contacts-rejected = rechazado por la Secretaría: { $reason }

public-title = Puntos de contacto nacionales del TCA
public-heading = Tratado sobre el Comercio de Armas: puntos de contacto nacionales
public-intro = Sección pública del directorio, versión { $version }.
public-issued = Publicada el { $date }.
public-listed = { $count ->
    [one] { $shown } Estado inscrito.
   *[other] { $shown } Estados inscritos.
}
public-no-contact = Ningún punto de contacto público.

api-error-no-contacts = Todavía no hay puntos de contacto
api-error-bad-state = Estado desconocido
