# The directory and points of contact, this State's own contacts, and the
# public page of the directory.
nav-directory = Directory
nav-contacts = Our contacts
directory-title = Directory and points of contact
directory-version = Directory version
directory-issued = issued
directory-search-state = State (code or name)
directory-search-region = Region
directory-search-language = Working language
directory-search-role = Role of a contact
directory-none = No State matches.
directory-total = { $count ->
    [one] { $shown } State
   *[other] { $shown } States
}
directory-region = Region
directory-fingerprint = Key fingerprint
directory-operator = Operator
directory-admitted = Admitted on
directory-entry = Entry
directory-no-contacts = No point of contact listed yet.
visibility-public = Public
visibility-restricted = States Parties only
contacts-caption = Points of contact
contact-role = Role
contact-field-name = Name
contact-field-job-title = Job title
contact-field-ministry = Ministry or agency
contact-field-emails = E-mail
contact-field-phones = Telephone
contact-field-office-address = Office address
contact-field-languages = Working languages
role-national-poc = National point of contact
role-alternate = Alternate
role-focal-point = Focal point
role-focal-point-for = Focal point for { $what }
entry-active = Active
entry-suspended = Suspended
entry-withdrawn = Withdrawn
region-africa = Africa
region-americas = Americas
region-asia = Asia
region-europe = Europe
region-oceania = Oceania
region-australia-and-new-zealand = Australia and New Zealand
region-caribbean = Caribbean
region-central-america = Central America
region-central-asia = Central Asia
region-eastern-africa = Eastern Africa
region-eastern-asia = Eastern Asia
region-eastern-europe = Eastern Europe
region-melanesia = Melanesia
region-micronesia = Micronesia
region-middle-africa = Middle Africa
region-northern-africa = Northern Africa
region-northern-america = Northern America
region-northern-europe = Northern Europe
region-polynesia = Polynesia
region-south-america = South America
region-south-eastern-asia = South-eastern Asia
region-southern-africa = Southern Africa
region-southern-asia = Southern Asia
region-southern-europe = Southern Europe
region-western-africa = Western Africa
region-western-asia = Western Asia
region-western-europe = Western Europe
language-en = English
language-fr = French
language-es = Spanish
language-ar = Arabic
language-ru = Russian
language-zh = Chinese
language-pt = Portuguese
language-de = German

contacts-title = Our points of contact
contacts-standing = Where our submission stands
contacts-submitted-at = submitted
contacts-none-yet = This State has not submitted its points of contact yet.
contacts-submit-heading = Submit our points of contact
contacts-submit-help = The whole list is signed with this node's key and sent to the Secretariat, which accepts it into the directory or rejects it with a reason. Leave a contact blank to remove it; the last block is for a new contact.
contacts-entry-visibility = Our entry in the public section of the directory
contacts-entry-public = Public
contacts-entry-restricted = States Parties only
contacts-contact = Contact
contact-focal-point-for = Focal point for (only for a focal point)
contact-visibility = Who may see this contact
contact-restricted-fields = Fields kept out of the public section
contacts-list-help = E-mail addresses, telephone numbers and languages: several separated by commas. Languages as two-letter codes (en, fr, es).
contacts-submit = Sign and submit
contacts-submitted = Our points of contact were signed and submitted.
contacts-submitted-status = Our points of contact were signed and submitted: { $status }.

contacts-kept = signed and kept; the node delivers it to the Secretariat at its next sync
contacts-pending = waiting for the Secretariat's review
contacts-accepted = accepted; in directory version { $version }
contacts-rejected = rejected by the Secretariat: { $reason }

public-title = ATT national points of contact
public-heading = Arms Trade Treaty: national points of contact
public-intro = Public section of the directory, version { $version }.
public-issued = Issued { $date }.
public-listed = { $count ->
    [one] { $shown } State listed.
   *[other] { $shown } States listed.
}
public-no-contact = No public point of contact.

api-error-no-contacts = No points of contact yet
api-error-bad-state = Unknown State
