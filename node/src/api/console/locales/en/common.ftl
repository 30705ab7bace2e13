# The console's frame, login, errors, dates and the dashboard.
# Every key here must exist in fr/common.ftl and es/common.ftl.
skip-to-content = Skip to the content
logout = Log out
nav-label = Console
footer = veim — Voluntary Exchange of Information Mechanism of the Arms Trade Treaty
back-to-dashboard = Back to the dashboard
node-national = National node of { $state }
node-secretariat = Node of the ATT Secretariat
language-label = Language

login-title = Log in to the console
login-intro = The restricted section of this node, for the officials who run it. Use the name and password your administrator gave you.
login-name = Account name
login-password = Password
login-code = Code from your authenticator application
login-code-help = Only if your account has a second factor: the 6 digits the application shows now.
login-submit = Log in
login-expired = Your session has expired. Log in again to go on.
login-logged-out = You have logged out.
login-refused = The name, password or code is not right. Try again; after several failures you will have to wait before the next try.
login-too-fast = Too many failed logins in a short time. Wait a few seconds and try again.
login-wait = Too many failed logins for this account. Wait { $minutes } minute(s) before the next try, or ask your administrator.
login-unavailable = The node cannot check logins just now. Try again in a moment; if it lasts, tell the node's administrator.

error-foreign-heading = Refused
error-foreign = This request came from a page of another site or under another address. The console answers only its own pages; open it from its own address.
error-not-found-heading = Page not found
error-not-found = There is no page at this address in the console.
error-form-heading = The form could not be read
error-form-too-large = The form is too large.
error-csrf-heading = Form refused
error-csrf = This form did not come from your session of the console (it may be an old page, or another site's). Reload the page and send it again.

api-error = The node refused this
api-error-not-permitted = Your roles do not allow this
api-error-invalid = Some fields need correcting
api-error-unknown-recipient = Unknown recipient
api-error-not-admitted = This node is not admitted to the network
api-error-refused = Refused by the recipient
api-error-wrong-role = Not done on this kind of node
api-error-bad-query = The filters are not right
api-error-unknown-exchange = No such exchange
api-error-same-official = A second official must approve this
api-error-store = The node cannot read or write its store
api-error-not-found = Not found
api-error-no-consent = No consent covers this

month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December
date-day = { $day } { $month } { $year }
date-time = { $date }, { $time } UTC

list-total = { $count ->
    [one] { $shown } item
   *[other] { $shown } items
}
list-empty = Nothing to show.
pager-label = Pages
pager-previous = ← Previous
pager-next = Next →
pager-page = Page

nav-dashboard = Dashboard
nav-inbox = Inbox
nav-outbox = Outbox
nav-exchanges = Exchanges
nav-compose = New request

dash-title = Dashboard
dash-needs-me = What needs attention
dash-to-do = to do
dash-requests = Requests waiting for our answer
dash-see-exchanges = See the open exchanges
dash-overdue = Overdue exchanges
dash-consents = Consent asked of us
dash-failed = Deliveries that failed
dash-see-outbox = See the outbox
dash-disclosures = Disclosures waiting for a second official
dash-registrations = Registrations to review
dash-contacts = Contacts to review
dash-health = The node's health
health-ready = Ready
health-not-ready = Not ready
health-check = Check
health-state = State
health-detail = Detail
health-ok = OK
health-failing = Failing
health-store = Store
health-network = Network
health-directory = Directory
summary-purged = (content purged under the retention policy)
