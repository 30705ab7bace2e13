# Le cadre de la console, la connexion, les erreurs, les dates et le tableau de bord.
skip-to-content = Aller au contenu
logout = Se déconnecter
nav-label = Console
footer = veim — Mécanisme d’échange volontaire d’informations du Traité sur le commerce des armes
back-to-dashboard = Retour au tableau de bord
node-national = Nœud national : { $state }
node-secretariat = Nœud du Secrétariat du TCA
language-label = Langue

login-title = Connexion à la console
login-intro = La section réservée de ce nœud, pour les fonctionnaires qui l’exploitent. Utilisez le nom et le mot de passe que votre administrateur vous a remis.
login-name = Nom du compte
login-password = Mot de passe
login-code = Code de votre application d’authentification
login-code-help = Seulement si votre compte a un second facteur : les 6 chiffres que l’application affiche maintenant.
login-submit = Se connecter
login-expired = Votre session a expiré. Reconnectez-vous pour continuer.
login-logged-out = Vous êtes déconnecté.
login-refused = Le nom, le mot de passe ou le code n’est pas correct. Réessayez ; après plusieurs échecs, il faudra attendre avant l’essai suivant.
login-too-fast = Trop d’échecs de connexion en peu de temps. Attendez quelques secondes et réessayez.
login-wait = Trop d’échecs de connexion pour ce compte. Attendez { $minutes } minute(s) avant l’essai suivant, ou adressez-vous à votre administrateur.
login-unavailable = Le nœud ne peut pas vérifier les connexions pour le moment. Réessayez dans un instant ; si cela dure, prévenez l’administrateur du nœud.

error-foreign-heading = Refusé
error-foreign = Cette demande vient d’une page d’un autre site ou d’une autre adresse. La console ne répond qu’à ses propres pages ; ouvrez-la depuis sa propre adresse.
error-not-found-heading = Page introuvable
error-not-found = Il n’y a pas de page à cette adresse dans la console.
error-form-heading = Le formulaire n’a pas pu être lu
error-form-too-large = Le formulaire est trop volumineux.
error-csrf-heading = Formulaire refusé
error-csrf = Ce formulaire ne vient pas de votre session de la console (page ancienne, ou page d’un autre site). Rechargez la page et envoyez-le de nouveau.

api-error = Le nœud a refusé
api-error-not-permitted = Vos rôles ne le permettent pas
api-error-invalid = Certains champs sont à corriger
api-error-unknown-recipient = Destinataire inconnu
api-error-not-admitted = Ce nœud n’est pas admis dans le réseau
api-error-refused = Refusé par le destinataire
api-error-wrong-role = Impossible sur ce type de nœud
api-error-bad-query = Les filtres ne sont pas corrects
api-error-unknown-exchange = Échange introuvable
api-error-same-official = Un second fonctionnaire doit l’approuver
api-error-store = Le nœud ne peut pas lire ou écrire sa base
api-error-not-found = Introuvable
api-error-no-consent = Aucun consentement ne couvre ceci

month-1 = janvier
month-2 = février
month-3 = mars
month-4 = avril
month-5 = mai
month-6 = juin
month-7 = juillet
month-8 = août
month-9 = septembre
month-10 = octobre
month-11 = novembre
month-12 = décembre
date-day = { $day } { $month } { $year }
date-time = { $date }, { $time } UTC

list-total = { $count ->
    [one] { $shown } élément
   *[other] { $shown } éléments
}
list-empty = Rien à afficher.
pager-label = Pages
pager-previous = ← Précédente
pager-next = Suivante →
pager-page = Page

nav-dashboard = Tableau de bord
nav-inbox = Reçus
nav-outbox = Envoyés
nav-exchanges = Échanges
nav-compose = Nouvelle demande

dash-title = Tableau de bord
dash-needs-me = Ce qui demande votre attention
dash-to-do = à traiter
dash-requests = Demandes en attente de notre réponse
dash-see-exchanges = Voir les échanges ouverts
dash-overdue = Échanges en retard
dash-consents = Consentements qui nous sont demandés
dash-failed = Remises en échec
dash-see-outbox = Voir les envois
dash-disclosures = Divulgations en attente d’un second fonctionnaire
dash-registrations = Inscriptions à examiner
dash-contacts = Points de contact à examiner
dash-health = État du nœud
health-ready = Prêt
health-not-ready = Pas prêt
health-check = Vérification
health-state = État
health-detail = Détail
health-ok = Correct
health-failing = En défaut
health-store = Base de données
health-network = Réseau
health-directory = Annuaire
summary-purged = (contenu supprimé selon la politique de conservation)
