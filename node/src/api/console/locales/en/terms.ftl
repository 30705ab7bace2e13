# Consent (Annex 2 of the working paper) and disclosures.
# Every key here must exist in fr/terms.ftl and es/terms.ftl.
nav-consents = Consent
nav-disclosures = Disclosures
form-check-fields = Correct the fields named below and send the form again; nothing was sent.

terms-authority = Authority
terms-authority-kind = Kind of authority
terms-authority-name = Name of the authority
terms-authority-state = State of the authority
terms-authority-state-help = Its three-letter ISO code, e.g. MEX; for another State Party, that State.
terms-choose = Choose…
terms-choose-kind = Choose the kind of authority.
terms-choose-items = Tick at least one item.
terms-give-exchange = Give the exchange's id (or its first hex digits).
terms-give-items = Name at least one item, as MESSAGE#N.
terms-items = Items
terms-purpose = Purpose
terms-case = Case reference
terms-reason = Reason

authority-court = Court
authority-administrative-body = Administrative body
authority-law-enforcement = Law enforcement
authority-prosecution = Prosecution
authority-state-party = Another State Party

terms-item-end-user-file = End-user file
terms-item-broker = Broker
terms-item-shipping-company = Shipping company
terms-item-address = Address
terms-item-national-database-record = National database record
terms-item-price-cost-commission-taxes = Price, cost, commission and taxes
terms-item-route = Route
terms-item-customary-procedure = Customary procedure
terms-item-volume-and-date-acknowledged = Volume and date acknowledged
terms-item-other = Other

consent-pending = Waiting for a decision
consent-granted = Granted
consent-refused = Refused
consent-revoked = Revoked

consents-title = Consent requests
consents-intro = Consent asked by this State to disclose items it received, and consent asked of it for items it gave, with what became of each.
consents-back = Back to the consent requests
consent-title = Consent request
consent-id = Consent
consent-asked-by = Asked by
consent-asked-of = Asked of
consent-to-decide = Decide
consent-see-exchange = See the exchange
consent-unknown = No consent request here has an id beginning with { $id }.
consent-decided-at = Decided
consent-granted-items = Items granted
consent-conditions = Conditions
consent-conditions-help = One condition a line; the State that asked must respect them.
consent-expires = Valid until
consent-refusal-reason = Reason for the refusal
consent-revoked-at = Revoked
consent-grant = Grant consent
consent-grant-send = Grant
consent-refuse = Refuse consent
consent-refuse-send = Refuse
consent-revoke = Revoke the consent
consent-revoke-help = Disclosures already made under it stand; no new one may rely on it.
consent-revoke-send = Revoke
consent-granted-done = Consent granted; the signed decision is on its way to the State that asked.
consent-refused-done = Consent refused; the decision is on its way to the State that asked.
consent-revoked-done = Consent revoked; the State that asked is told.
consent-disclose = Ask for a disclosure under this consent
consent-ask-link = Ask the originator for consent to disclose items
consent-ask-title = Ask for consent to disclose
consent-ask-intro = The State that gave the items decides whether they may be disclosed, to which authority and for what purpose.
consent-ask-send = Ask for consent
consent-asked = Consent asked; the request is on its way to the State that gave the items.
consent-no-items = No response with items has been received in this exchange.

disclosures-title = Disclosures
disclosures-intro = A disclosure package holds the items a consent covers and the proofs that let anyone verify them. It is made only when an approver other than the official who asked for it approves it.
disclosures-waiting = Disclosures waiting for a second official
disclosures-none-waiting = No disclosure is waiting for approval.
disclosures-made = Disclosures made
disclosure-request = Request
disclosure-asked-by = Asked by
disclosure-you = you
disclosure-decision = Decision
disclosure-approve = Approve and download the package
disclosure-refuse = Refuse
disclosure-refused = The disclosure was refused; nothing was disclosed.
disclosure-ask = Ask for a disclosure
disclosure-ask-help = Checked now against the consent given; made once another official with the approver role approves it.
disclosure-ask-send = Ask for the disclosure
disclosure-asked = Disclosure { $id } asked for; it waits for a second official's approval.
disclosure-items-help = Items as MESSAGE#N, separated by commas, as the exchange's page and the consent list them.
disclosure-waived = none: the originator waived consent for this kind of authority
disclosure-hash = SHA-256 of the package

verify-title = Verify a disclosure package
verify-help = Choose a package file (as downloaded when it was approved). The node checks every proof: the directory signed by the Secretariat, the originator's signed messages and statements, its consent, and the discloser's signature.
verify-file = Package file
verify-send = Verify
verify-no-file = Choose a package file to verify.
verify-ok = The package verifies
verify-ok-text = { $count ->
    [one] It holds { $shown } item, each proven to come from the originator.
   *[other] It holds { $shown } items, each proven to come from the originator.
}
verify-failed = The package does NOT verify
verify-disclosure = Disclosure
verify-discloser = Disclosed by
verify-originator = Originator
verify-authority = Disclosed to
verify-purpose = Purpose
verify-case = Case reference
verify-made = Made
verify-consent = Consent
verify-directory = Directory
verify-directory-text = version { $version }, signed by the Secretariat key
verify-anchor = Secretariat key
verify-anchored = the key this node trusts
verify-not-anchored = the package's own key: compare its fingerprint with the one the ATT Secretariat publishes
