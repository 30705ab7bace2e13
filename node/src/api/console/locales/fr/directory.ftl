# Le répertoire et les points de contact, les contacts de cet État et la
# page publique du répertoire.
nav-directory = Répertoire
nav-contacts = Nos contacts
directory-title = Répertoire et points de contact
directory-version = Version du répertoire
directory-issued = publiée le
directory-search-state = État (code ou nom)
directory-search-region = Région
directory-search-language = Langue de travail
directory-search-role = Rôle d’un contact
directory-none = Aucun État ne correspond.
directory-total = { $count ->
    [one] { $shown } État
   *[other] { $shown } États
}
directory-region = Région
directory-fingerprint = Empreinte de la clé
directory-operator = Exploitant
directory-admitted = Admis le
directory-entry = Inscription
directory-no-contacts = Aucun point de contact inscrit pour l’instant.
visibility-public = Publique
visibility-restricted = États parties uniquement
contacts-caption = Points de contact
contact-role = Rôle
contact-field-name = Nom
contact-field-job-title = Fonction
contact-field-ministry = Ministère ou organisme
contact-field-emails = Courriel
contact-field-phones = Téléphone
contact-field-office-address = Adresse du bureau
contact-field-languages = Langues de travail
role-national-poc = Point de contact national
role-alternate = Suppléant
role-focal-point = Correspondant
role-focal-point-for = Correspondant pour { $what }
entry-active = Actif
entry-suspended = Suspendu
entry-withdrawn = Retiré
region-africa = Afrique
region-americas = Amériques
region-asia = Asie
region-europe = Europe
region-oceania = Océanie
region-australia-and-new-zealand = Australie et Nouvelle-Zélande
region-caribbean = Caraïbes
region-central-america = Amérique centrale
region-central-asia = Asie centrale
region-eastern-africa = Afrique de l’Est
region-eastern-asia = Asie de l’Est
region-eastern-europe = Europe de l’Est
region-melanesia = Mélanésie
region-micronesia = Micronésie
region-middle-africa = Afrique centrale
region-northern-africa = Afrique du Nord
region-northern-america = Amérique du Nord
region-northern-europe = Europe du Nord
region-polynesia = Polynésie
region-south-america = Amérique du Sud
region-south-eastern-asia = Asie du Sud-Est
region-southern-africa = Afrique australe
region-southern-asia = Asie du Sud
region-southern-europe = Europe du Sud
region-western-africa = Afrique de l’Ouest
region-western-asia = Asie de l’Ouest
region-western-europe = Europe de l’Ouest
language-en = anglais
language-fr = français
language-es = espagnol
language-ar = arabe
language-ru = russe
language-zh = chinois
language-pt = portugais
language-de = allemand

contacts-title = Nos points de contact
contacts-standing = Où en est notre envoi
contacts-submitted-at = envoyé le
contacts-none-yet = Cet État n’a pas encore envoyé ses points de contact.
contacts-submit-heading = Envoyer nos points de contact
contacts-submit-help = La liste entière est signée avec la clé de ce nœud et envoyée au Secrétariat, qui l’accepte dans le répertoire ou la rejette en motivant sa décision. Laissez un contact vide pour le retirer ; le dernier bloc sert à ajouter un contact.
contacts-entry-visibility = Notre inscription dans la partie publique du répertoire
contacts-entry-public = Publique
contacts-entry-restricted = États parties uniquement
contacts-contact = Contact
contact-focal-point-for = Correspondant pour (seulement pour un correspondant)
contact-visibility = Qui peut voir ce contact
contact-restricted-fields = Champs exclus de la partie publique
contacts-list-help = Courriels, numéros de téléphone et langues : plusieurs, séparés par des virgules. Les langues en codes de deux lettres (en, fr, es).
contacts-submit = Signer et envoyer
contacts-submitted = Nos points de contact ont été signés et envoyés.
contacts-submitted-status = Nos points de contact ont été signés et envoyés : { $status }.

contacts-kept = signé et conservé ; le nœud le remet au Secrétariat à sa prochaine synchronisation
contacts-pending = en attente de l’examen du Secrétariat
contacts-accepted = accepté ; dans la version { $version } du répertoire
contacts-rejected = rejeté par le Secrétariat : { $reason }

public-title = Points de contact nationaux du TCA
public-heading = Traité sur le commerce des armes : points de contact nationaux
public-intro = Partie publique du répertoire, version { $version }.
public-issued = Publiée le { $date }.
public-listed = { $count ->
    [one] { $shown } État inscrit.
   *[other] { $shown } États inscrits.
}
public-no-contact = Aucun point de contact public.

api-error-no-contacts = Pas encore de points de contact
api-error-bad-state = État inconnu
