"""A labelled synthetic PII set, generated in code with Faker (seeded; nothing stored).

Short mails and task notes in seven locales (en_US, en_GB, de_DE, fr_FR, es_ES, nl_NL,
it_IT), each with a few labelled entities — EMAIL, PHONE, CARD, IBAN, NATIONAL_ID and
PERSON — and DISTRACTORS that must survive: order numbers, tracking codes, prices, times,
dates, street addresses, postcodes, invoice numbers and 16-digit references that fail
Luhn. Every entity and distractor is recorded with its span in the text.

Shared by tests/knowledge/test_neutralisation.py and benchmarks/bench_pii.py; it imports
nothing from ``knowledge``.

Ground truth, briefly: phone numbers are Faker's for the locale kept only when
``phonenumbers`` calls them valid for the locale's country (Faker invents area codes),
plus valid numbers of other countries written internationally; cards are Faker's for
every network plus Mastercard 2-series and 18/19-digit numbers of our own (Luhn-valid);
national ids are per locale: US SSN, GB NINO, DE Steuer-ID, FR NIR, ES DNI/NIE, NL BSN,
IT codice fiscale (the ones needing a keyword are always written after one).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

import phonenumbers
from faker import Faker
from stdnum.de import idnr
from stdnum.iso7064 import mod_11_10

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "nl_NL", "it_IT")
TYPES = ("EMAIL", "PHONE", "CARD", "IBAN", "NATIONAL_ID", "PERSON")
DISTRACTOR_KINDS = ("order", "tracking", "price", "time", "date", "address", "postcode",
                    "invoice", "reference16", "customer", "long_number")


@dataclass(frozen=True)
class Span:
    kind: str  # an entity type or a distractor kind
    start: int
    end: int
    value: str


@dataclass
class Sample:
    locale: str
    region: str
    text: str = ""
    entities: list[Span] = field(default_factory=list)
    distractors: list[Span] = field(default_factory=list)

    def add(self, piece: str, **slots: tuple[str, str]) -> None:
        """Append ``piece`` with ``{slot}`` markers; each slot is (kind, value)."""
        rest = piece
        while "{" in rest:
            before, _, after = rest.partition("{")
            slot, _, rest = after.partition("}")
            self.text += before
            kind, value = slots[slot]
            span = Span(kind, len(self.text), len(self.text) + len(value), value)
            (self.entities if kind in TYPES else self.distractors).append(span)
            self.text += value
        self.text += rest


# Sentences per language, by slot kind. {v} is the value.
SENTENCES: dict[str, dict[str, list[str]]] = {
    "en": {
        "EMAIL": ["Please reply to {v} by Friday.", "You can reach me at {v}.", "Send the quote to {v} and copy me in.",
                  "Her new address is {v}"],
        "PHONE": ["Call me back on {v} after lunch.", "My mobile is {v}.", "The customer left a voicemail from {v}.",
                  "Reachable at {v} until 6."],
        "CARD": ["The payment with card {v} was declined.", "Please charge {v} for the deposit.",
                 "Card number: {v}, expiry next year."],
        "IBAN": ["Refund to IBAN {v}, please.", "Our bank details: {v}.", "Transfer the balance to {v} today."],
        "NATIONAL_ID": {"en_US": ["My SSN is {v}.", "SSN: {v} (for the insurance form).", "Patient SSN {v} on file."],
                        "en_GB": ["National Insurance number {v}.", "My NI number is {v}.", "NINO: {v}"]},  # type: ignore[dict-item]
        "greet": ["Dear {v},", "Hi {v},", "Hello {v},"],
        "sign": ["Kind regards,\n{v}", "Best,\n{v}", "Thanks,\n{v}"],
        "order": ["Order {v} shipped yesterday.", "Re: order #{v}", "The order number is {v}."],
        "tracking": ["Tracking code {v}.", "Parcel {v} is out for delivery."],
        "price": ["The total is {v}.", "It costs {v} including VAT."],
        "time": ["The appointment is at {v}.", "We open at {v}."],
        "date": ["Delivery on {v}.", "Invoice dated {v}."],
        "address": ["Deliver to {v}.", "Our office moved to {v}."],
        "postcode": ["Postcode {v} is outside the service area."],
        "invoice": ["Invoice {v} is overdue.", "See invoice {v} attached."],
        "reference16": ["Payment reference {v}.", "Reference: {v}"],
        "customer": ["Customer no. {v}.", "Account {v} was updated."],
        "long_number": ["Your order number is {v}.", "Customer ID {v} updated."],
    },
    "de": {
        "EMAIL": ["Bitte antworten Sie an {v}.", "Meine E-Mail-Adresse ist {v}.", "Rechnung bitte an {v} schicken."],
        "PHONE": ["Rufen Sie mich unter {v} zurück.", "Meine Handynummer: {v}.", "Erreichbar unter {v} bis 18 Uhr."],
        "CARD": ["Die Zahlung mit Karte {v} wurde abgelehnt.", "Kreditkarte {v}, gültig bis 12/28."],
        "IBAN": ["Bitte überweisen Sie auf IBAN {v}.", "Unsere Bankverbindung: {v}."],
        "NATIONAL_ID": ["Meine Steuer-ID ist {v}.", "Steuer-Identifikationsnummer: {v}", "IdNr {v} für die Lohnabrechnung."],
        "greet": ["Hallo {v},", "Liebe {v},", "Sehr geehrte Frau {v},"],
        "sign": ["Viele Grüße\n{v}", "Mit freundlichen Grüßen\n{v}"],
        "order": ["Bestellung {v} wurde versandt.", "Bestellnummer {v}."],
        "tracking": ["Sendungsnummer {v}.", "Paket {v} ist unterwegs."],
        "price": ["Der Betrag beträgt {v}.", "Preis: {v} inkl. MwSt."],
        "time": ["Der Termin ist um {v}.", "Wir öffnen um {v}."],
        "date": ["Lieferung am {v}.", "Rechnung vom {v}."],
        "address": ["Lieferadresse: {v}.", "Wir sind umgezogen: {v}."],
        "postcode": ["PLZ {v} liegt außerhalb unseres Gebiets."],
        "invoice": ["Rechnung {v} ist überfällig.", "Siehe Rechnung {v} im Anhang."],
        "reference16": ["Verwendungszweck {v}.", "Referenz: {v}"],
        "customer": ["Kundennummer {v}.", "Vertrag {v} wurde geändert."],
        "long_number": ["Ihre Auftragsnummer lautet {v}.", "Kundennummer {v} aktualisiert."],
    },
    "fr": {
        "EMAIL": ["Merci de répondre à {v}.", "Mon adresse e-mail est {v}.", "Envoyez le devis à {v}."],
        "PHONE": ["Rappelez-moi au {v}.", "Mon portable : {v}.", "Joignable au {v} jusqu'à 18h."],
        "CARD": ["Le paiement avec la carte {v} a été refusé.", "Carte bancaire {v}."],
        "IBAN": ["Remboursement sur l'IBAN {v}.", "Nos coordonnées bancaires : {v}."],
        "NATIONAL_ID": ["Mon numéro de sécurité sociale est {v}.", "NIR : {v}", "N° sécu {v}."],
        "greet": ["Bonjour {v},", "Chère {v},", "Bonjour Mme {v},"],
        "sign": ["Cordialement,\n{v}", "Bien à vous,\n{v}"],
        "order": ["La commande {v} a été expédiée.", "Numéro de commande {v}."],
        "tracking": ["Numéro de suivi {v}.", "Le colis {v} est en livraison."],
        "price": ["Le total est de {v}.", "Prix : {v} TTC."],
        "time": ["Le rendez-vous est à {v}.", "Nous ouvrons à {v}."],
        "date": ["Livraison le {v}.", "Facture du {v}."],
        "address": ["Livrer au {v}.", "Nouvelle adresse : {v}."],
        "postcode": ["Le code postal {v} est hors zone."],
        "invoice": ["La facture {v} est impayée.", "Voir facture {v} ci-jointe."],
        "reference16": ["Référence de paiement {v}.", "Réf. {v}"],
        "customer": ["Client n° {v}.", "Contrat {v} modifié."],
        "long_number": ["Votre numéro de commande est {v}.", "Identifiant client {v} mis à jour."],
    },
    "es": {
        "EMAIL": ["Por favor, responda a {v}.", "Mi correo es {v}.", "Envíe el presupuesto a {v}."],
        "PHONE": ["Llámeme al {v}.", "Mi móvil: {v}.", "Disponible en el {v} hasta las 18h."],
        "CARD": ["El pago con la tarjeta {v} fue rechazado.", "Tarjeta {v}."],
        "IBAN": ["Devolución al IBAN {v}.", "Nuestros datos bancarios: {v}."],
        "NATIONAL_ID": ["Mi DNI es {v}.", "DNI/NIE: {v}", "Documento {v} adjunto."],
        "greet": ["Hola {v},", "Estimada {v},", "Hola Sra. {v},"],
        "sign": ["Saludos,\n{v}", "Atentamente,\n{v}"],
        "order": ["El pedido {v} ha sido enviado.", "Número de pedido {v}."],
        "tracking": ["Número de seguimiento {v}.", "El paquete {v} está en reparto."],
        "price": ["El total es {v}.", "Precio: {v} IVA incluido."],
        "time": ["La cita es a las {v}.", "Abrimos a las {v}."],
        "date": ["Entrega el {v}.", "Factura del {v}."],
        "address": ["Entregar en {v}.", "Nueva dirección: {v}."],
        "postcode": ["El código postal {v} está fuera de zona."],
        "invoice": ["La factura {v} está pendiente.", "Ver factura {v} adjunta."],
        "reference16": ["Referencia de pago {v}.", "Ref. {v}"],
        "customer": ["Cliente n.º {v}.", "Contrato {v} modificado."],
        "long_number": ["Su número de pedido es {v}.", "ID de cliente {v} actualizado."],
    },
    "nl": {
        "EMAIL": ["Antwoord graag naar {v}.", "Mijn e-mailadres is {v}.", "Stuur de offerte naar {v}."],
        "PHONE": ["Bel me terug op {v}.", "Mijn mobiel: {v}.", "Bereikbaar op {v} tot 18 uur."],
        "CARD": ["De betaling met kaart {v} is geweigerd.", "Creditcard {v}."],
        "IBAN": ["Terugbetaling naar IBAN {v}.", "Onze bankgegevens: {v}."],
        "NATIONAL_ID": ["Mijn BSN is {v}.", "Burgerservicenummer: {v}", "BSN {v} voor het dossier."],
        "greet": ["Beste {v},", "Hallo {v},", "Geachte mevrouw {v},"],
        "sign": ["Met vriendelijke groet,\n{v}", "Groeten,\n{v}"],
        "order": ["Bestelling {v} is verzonden.", "Ordernummer {v}."],
        "tracking": ["Trackingcode {v}.", "Pakket {v} wordt bezorgd."],
        "price": ["Het totaal is {v}.", "Prijs: {v} incl. btw."],
        "time": ["De afspraak is om {v}.", "We openen om {v}."],
        "date": ["Levering op {v}.", "Factuur van {v}."],
        "address": ["Bezorgen op {v}.", "Nieuw adres: {v}."],
        "postcode": ["Postcode {v} valt buiten ons gebied."],
        "invoice": ["Factuur {v} is nog open.", "Zie factuur {v} in de bijlage."],
        "reference16": ["Betalingskenmerk {v}.", "Kenmerk: {v}"],
        "customer": ["Klantnummer {v}.", "Contract {v} gewijzigd."],
        "long_number": ["Uw ordernummer is {v}.", "Klant-ID {v} bijgewerkt."],
    },
    "it": {
        "EMAIL": ["Si prega di rispondere a {v}.", "La mia email è {v}.", "Inviate il preventivo a {v}."],
        "PHONE": ["Richiamatemi al {v}.", "Il mio cellulare: {v}.", "Raggiungibile al {v} fino alle 18."],
        "CARD": ["Il pagamento con la carta {v} è stato rifiutato.", "Carta di credito {v}."],
        "IBAN": ["Rimborso sull'IBAN {v}.", "Le nostre coordinate bancarie: {v}."],
        "NATIONAL_ID": ["Il mio codice fiscale è {v}.", "Codice fiscale: {v}", "CF {v} per la fattura."],
        "greet": ["Gentile {v},", "Ciao {v},", "Gentile Sig.ra {v},"],
        "sign": ["Cordiali saluti,\n{v}", "Saluti,\n{v}"],
        "order": ["L'ordine {v} è stato spedito.", "Numero d'ordine {v}."],
        "tracking": ["Codice di tracciamento {v}.", "Il pacco {v} è in consegna."],
        "price": ["Il totale è {v}.", "Prezzo: {v} IVA inclusa."],
        "time": ["L'appuntamento è alle {v}.", "Apriamo alle {v}."],
        "date": ["Consegna il {v}.", "Fattura del {v}."],
        "address": ["Consegnare in {v}.", "Nuovo indirizzo: {v}."],
        "postcode": ["Il CAP {v} è fuori zona."],
        "invoice": ["La fattura {v} è scaduta.", "Vedi fattura {v} in allegato."],
        "reference16": ["Causale {v}.", "Rif. {v}"],
        "customer": ["Cliente n. {v}.", "Contratto {v} modificato."],
        "long_number": ["Il numero d'ordine è {v}.", "ID cliente {v} aggiornato."],
    },
}
# Ids that need no keyword also appear without one.
UNLABELLED_ID = {"en_US": "Form attached: {v}.", "en_GB": "Ref {v} on the form.", "fr_FR": "Dossier {v}.",
                 "es_ES": "Adjunto: {v}.", "it_IT": "Dati: {v}."}


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        if _luhn_ok(body + check):
            return body + check
    raise AssertionError("unreachable")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _group(digits: str, rng: random.Random) -> str:
    style = rng.random()
    if style < 0.5:
        return digits
    sep = " " if style < 0.85 else "-"
    if len(digits) == 15:
        return sep.join((digits[:4], digits[4:10], digits[10:]))
    return sep.join(digits[i:i + 4] for i in range(0, len(digits), 4))


def _card(fake: Faker, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.2:
        digits = _luhn_complete(str(rng.randint(2221, 2720)), 16, rng)  # Mastercard 2-series
    elif roll < 0.3:
        digits = _luhn_complete(rng.choice(["4", "62", "6759"]), rng.choice([18, 19]), rng)
    else:
        digits = "0"
        while digits.startswith("0"):  # Faker's Maestro knows a "0604" range no network uses
            digits = fake.credit_card_number(card_type=rng.choice(
                ["amex", "diners", "discover", "jcb16", "maestro", "mastercard", "visa13", "visa16", "visa19"]))
    return _group(digits, rng)


def _iban(fake: Faker, rng: random.Random) -> str:
    value: str = fake.iban()
    if rng.random() < 0.5:
        return " ".join(value[i:i + 4] for i in range(0, len(value), 4))
    return value


def _phone(fake: Faker, region: str, rng: random.Random) -> str:
    if rng.random() < 0.2:  # a valid number of another country, written internationally
        other = rng.choice(["US", "GB", "DE", "FR", "ES", "NL", "IT", "CH", "AT", "BE", "PL", "SE", "IE"])
        number = phonenumbers.example_number_for_type(other, rng.choice(
            [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]))
        assert number is not None
        national = str(number.national_number)
        # Vary the subscriber digits, keep the number valid.
        for _ in range(20):
            tail = "".join(rng.choice(string.digits) for _ in range(3))
            candidate = phonenumbers.parse(f"+{number.country_code}{national[:-3]}{tail}")
            if phonenumbers.is_valid_number(candidate):
                number = candidate
                break
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    for _ in range(200):
        value: str = fake.phone_number()
        try:
            parsed = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed) and phonenumbers.region_code_for_number(parsed) == region:
            return value
    raise AssertionError(f"no valid {region} phone from Faker")


def _nino(rng: random.Random) -> str:
    while True:
        first = rng.choice("ABCEGHJKLMNOPRSTWXYZ")
        second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
        if first + second not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
            break
    digits = "".join(rng.choice(string.digits) for _ in range(6))
    suffix = rng.choice("ABCD")
    if rng.random() < 0.5:
        return f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
    return f"{first}{second}{digits}{suffix}"


def _steuer_id(rng: random.Random) -> str:
    while True:
        digits = [rng.choice("123456789")] + [rng.choice(string.digits) for _ in range(9)]
        body = "".join(digits)
        value = body + mod_11_10.calc_check_digit(body)
        if idnr.is_valid(value):
            return value if rng.random() < 0.6 else f"{value[:2]} {value[2:5]} {value[5:8]} {value[8:]}"


def _national_id(fake: Faker, locale: str, rng: random.Random) -> str:
    if locale == "en_US":
        value: str = fake.ssn()
        return value.replace("-", "") if rng.random() < 0.3 else value
    if locale == "en_GB":
        return _nino(rng)
    if locale == "de_DE":
        return _steuer_id(rng)
    if locale == "es_ES":
        return str(fake.nif() if rng.random() < 0.7 else fake.nie())
    return str(fake.ssn())  # fr_FR NIR, nl_NL BSN, it_IT codice fiscale


def _needs_keyword(locale: str, value: str) -> bool:
    return locale in ("de_DE", "nl_NL") or (locale == "en_US" and "-" not in value)


def _distractor(kind: str, fake: Faker, rng: random.Random) -> str:
    if kind == "order":
        return rng.choice([str(rng.randint(100000, 99999999)), f"A{rng.randint(10000, 99999)}-{rng.randint(10, 99)}",
                           f"{rng.randint(100, 999)}-{rng.randint(1000000, 9999999)}-{rng.randint(1000000, 9999999)}"])
    if kind == "tracking":
        return rng.choice([
            "1Z" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
            "".join(rng.choice(string.digits) for _ in range(20)),
            f"RR{rng.randint(10000000, 99999999)}{rng.randint(0, 9)}DE",
            "9400 " + " ".join("".join(rng.choice(string.digits) for _ in range(4)) for _ in range(4)) + " 00"])
    if kind == "price":
        euros, cents = rng.randint(1, 9999), rng.randint(0, 99)
        return rng.choice([f"€{euros:,}.{cents:02d}", f"${euros}.{cents:02d}", f"{euros:,}.{cents:02d} EUR".replace(",", "."),
                           f"CHF {euros}.–", f"£{euros}"])
    if kind == "time":
        return rng.choice([f"{rng.randint(0, 23):02d}:{rng.choice(['00', '15', '30', '45'])}",
                           f"{rng.randint(1, 12)}:{rng.choice(['00', '30'])} {rng.choice(['am', 'pm'])}",
                           f"{rng.randint(7, 11)}:00–{rng.randint(12, 18)}:00"])
    if kind == "date":
        day = fake.date_between(start_date="-2y", end_date="+1y")
        return rng.choice([day.isoformat(), day.strftime("%d.%m.%Y"), day.strftime("%m/%d/%Y"), day.strftime("%d/%m/%Y")])
    if kind == "address":
        return f"{fake.street_address()}, {fake.postcode()} {fake.city()}".replace("\n", ", ")
    if kind == "postcode":
        return str(fake.postcode())
    if kind == "invoice":
        return rng.choice([f"INV-{rng.randint(2020, 2026)}-{rng.randint(1, 99999):05d}", f"RE{rng.randint(20200000, 20269999)}",
                           f"{rng.randint(2020, 2026)}/{rng.randint(1, 9999):04d}"])
    if kind == "reference16":
        while True:
            digits = rng.choice("3456") + "".join(rng.choice(string.digits) for _ in range(15))
            if not _luhn_ok(digits):
                return digits if rng.random() < 0.5 else " ".join(digits[i:i + 4] for i in range(0, 16, 4))
    if kind == "customer":
        return rng.choice([f"K-{rng.randint(100000, 999999)}", str(rng.randint(10000, 999999)), f"CU{rng.randint(1000, 99999)}"])
    if kind == "long_number":  # bare 9–11 digit order/customer numbers: the hard case for phones
        return str(rng.randint(10**8, 10**11 - 1))
    raise ValueError(kind)


def build(*, seed: int = 14, per_locale: int = 50) -> list[Sample]:
    """``per_locale`` samples per locale; each holds one of every entity type (so
    per_locale × 7 entities per type) and three distractors, in shuffled order."""
    rng = random.Random(seed)
    samples: list[Sample] = []
    for locale in LOCALES:
        fake = Faker(locale)
        fake.seed_instance(seed)
        language = locale[:2]
        region = locale[3:]
        texts = SENTENCES[language]
        for _ in range(per_locale):
            sample = Sample(locale=locale, region=region)
            first, last = fake.first_name(), fake.last_name()
            sample.add(rng.choice(texts["greet"]) + "\n\n", v=("PERSON", first if rng.random() < 0.5 else f"{first} {last}"))
            lines: list[tuple[str, str, str]] = []
            signature_phone = ""
            for entity in ("EMAIL", "PHONE", "CARD", "IBAN", "NATIONAL_ID"):
                if entity == "EMAIL":
                    value = rng.choice([fake.email(), fake.free_email(), fake.company_email()])
                elif entity == "PHONE":
                    value = _phone(fake, region, rng)
                elif entity == "CARD":
                    value = _card(fake, rng)
                elif entity == "IBAN":
                    value = _iban(fake, rng)
                else:
                    value = _national_id(fake, locale, rng)
                options = texts[entity]
                if isinstance(options, dict):
                    options = options[locale]
                template = rng.choice(options)
                if entity == "NATIONAL_ID" and not _needs_keyword(locale, value) and locale in UNLABELLED_ID \
                        and rng.random() < 0.3:
                    template = UNLABELLED_ID[locale]
                if entity == "PHONE" and rng.random() < 0.25:
                    signature_phone = value  # alone on a line under the name, no keyword
                    continue
                lines.append((template, entity, value))
            for kind in rng.sample(DISTRACTOR_KINDS, 3):
                lines.append((rng.choice(texts[kind]), kind, _distractor(kind, fake, rng)))
            rng.shuffle(lines)
            for template, kind, value in lines:
                sample.add(template + " ", v=(kind, value))
            sample.add("\n\n" + rng.choice(texts["sign"]) + "\n", v=("PERSON", f"{fake.first_name()} {fake.last_name()}"))
            if signature_phone:
                sample.add("{v}\n", v=("PHONE", signature_phone))
            samples.append(sample)
    return samples
