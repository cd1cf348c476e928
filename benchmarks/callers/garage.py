"""Northside Auto Repair: summer and winter hours, a price list PDF, warranty, tires, loaners."""

from __future__ import annotations

from build import Business, Doc

NAME = "Northside Auto Repair"

HOURS = Doc(
    "hours-and-location.txt",
    """
# Hours and Location

Northside Auto Repair, 4410 Industrial Parkway, Millbrook. We are on the north side of the parkway, between the lumber yard and the bus depot.

## Summer hours (April 1 to October 31)

- Monday to Friday: 7:00 a.m. to 6:00 p.m.
- Saturday: 8:00 a.m. to 2:00 p.m.
- Sunday: closed

## Winter hours (November 1 to March 31)

- Monday to Friday: 7:30 a.m. to 5:30 p.m.
- Saturday and Sunday: closed

## Holidays

We close on all federal holidays. On the Friday after Thanksgiving we are open from 8:00 a.m. to noon for pick-ups only.

## Dropping off after hours

Use the key drop slot to the left of the front door. Take an envelope from the box, write your name, phone number and what the car needs, seal your key inside and drop it in. Park in one of the spaces marked with green paint along the fence.

## Customer parking

Customer parking is in front of the office. Please do not park in front of the bay doors.
""",
)

PRICES = Doc(
    "price-list.pdf",
    """
# Price List

Prices are for most cars and light trucks. Large trucks, vans and European models can cost more; your service advisor gives you a written estimate before any work starts.

## Labor

| Item | Price | Notes |
| Labor rate | $138 per hour | Book time from the industry guide |
| Diagnostic fee | $95 | Check engine light scan and road test; waived if we do the repair |
| Electrical diagnosis | $165 | Up to 90 minutes of testing |
| Pre-purchase inspection | $129 | For a used car you are thinking of buying |
| State safety inspection | $37 | Sticker the same day |
| Emissions test | $29.95 | Gasoline cars 1996 and newer |

## Oil and fluids

| Service | Price | Notes |
| Conventional oil change | $49.95 | Up to 5 quarts, filter included |
| Synthetic blend oil change | $64.95 | Up to 5 quarts, filter included |
| Full synthetic oil change | $89.95 | Up to 5 quarts, filter included |
| Coolant flush | $139 | |
| Brake fluid flush | $99 | Recommended every 3 years |
| Transmission fluid service | $189 | Drain and fill |

---page---

## Brakes, tires and alignment

| Service | Price | Notes |
| Brake pads, one axle | $199 | Includes labor; rotors extra |
| Brake pads and rotors, one axle | $389 | |
| Tire rotation | $25 | No charge with any oil change |
| Rotate and balance | $60 | |
| Four-wheel alignment | $119 | Printout before and after |
| Flat tire repair | $28 | Plug and patch from inside |

## Other services

| Service | Price | Notes |
| Battery test | Free | |
| Battery replacement, installed | $179 | 3-year replacement warranty |
| AC recharge | $149 | Refrigerant extra |
| Wiper blades, installed | $32 per pair | |
| Headlight bulb, installed | $42 | Per bulb, halogen |

---page---

## Fees on every invoice

A shop supplies fee of 6 percent of labor, capped at $40, covers rags, cleaners and small hardware. Old tires are recycled for an environmental disposal fee of $4 per tire. Used oil and batteries are recycled at no charge.

## Payment

We take cash, debit, Visa, Mastercard, American Express and Discover. Repairs over $500 can be financed through Synchrony Car Care with 6 months no interest for approved buyers. Payment is due when you pick up the car.
""",
    header="Northside Auto Repair | Price List | 4410 Industrial Parkway",
    footer="Prices valid from January 15, 2026",
)

WARRANTY = Doc(
    "warranty-and-repair-policies.docx",
    """
# Warranty and Repair Policies

## Our warranty

| What | Coverage |
| New parts and the labor to fit them | 24 months or 24,000 miles, whichever comes first |
| Used or rebuilt parts | 90 days, parts only |
| Parts the customer brings in | No warranty on the part or the labor |
| Batteries | 3-year free replacement |
| Tires | Manufacturer warranty, handled by us |

The warranty is nationwide: if a repair fails more than 25 miles from the shop, call us first and we will arrange the repair at a partner shop.

## Estimates and approval

We never start work without your approval. If the final bill would be more than 10 percent or $50 over the estimate, whichever is less, we call you before going on.

## Parts you bring in

We install customer-supplied parts at our labor rate plus a $25 handling charge per job. We do not install used airbags, used brake parts or tires older than 6 years.

## Picking up your car

We hold your car free for 3 business days after we tell you it is ready. After that a storage fee of $35 per day applies. Cars towed in without an owner's authorization are stored at $20 per day until we reach you.

## Old parts

Ask when you drop off and we will keep your old parts in a box in the trunk. Parts sent back for a core refund cannot be returned to you.
""",
)

SERVICES = Doc(
    "services.html",
    """
# Our Services

## What we work on

We repair and service cars, SUVs, minivans and light trucks, domestic and imported, including BMW, Volkswagen, Audi and Volvo. We service hybrids, including hybrid battery testing. We do not do repairs on the high-voltage system of fully electric cars, and we do not work on motorcycles, RVs or diesel trucks over one ton.

## Body and paint work

We do not do body work, paint or windshields. We recommend Precision Collision on Mill Road, who can pick the car up from our lot.

## Loaner cars

We have three loaner cars for repairs that take more than one day. Reserve one when you book; the driver must be 21 or older and show a driver's license and proof of insurance. Loaners are free for the first 2 days, then $30 per day.

## Free shuttle

Our shuttle drives you home or to work within 5 miles of the shop. It runs Monday to Friday from 7:30 a.m. to 4:30 p.m.; ask at the counter for a ride back when the car is ready.

## While you wait

Our waiting room has free Wi-Fi, coffee and a desk with a power outlet. Oil changes and inspections are done while you wait.
""",
    nav=["Home", "Services", "Prices", "Tires", "Book Online", "Contact"],
    footer="Northside Auto Repair | 4410 Industrial Parkway | ASE Certified | Copyright 2026",
    script="""
// TODO remove: spring promo from 2022
window.promo = { text: "Oil change special $19.99 - open Sundays 9 to 3!", shuttle: "Shuttle runs until 7:00 p.m." };
""",
)

FAQ = Doc(
    "faq.md",
    """
# Frequently Asked Questions

## How long does an oil change take?

About 45 minutes if you have an appointment. Without an appointment it depends on how busy the shop is.

## Do you take walk-ins?

Yes, for oil changes, tire repairs and inspections until 2:00 p.m. on weekdays. Everything else needs an appointment so that a technician and a bay are free.

## How do I book?

Book online on our website or call the front desk. We confirm every booking by text message the day before.

## Can you tow my car?

We do not own a tow truck. Big Rig Towing brings cars to us 24 hours a day; call them at 555-0142 and tell them to bring it to Northside.

## Do you work on electric cars?

We do tires, brakes, suspension, wipers and cabin filters on electric cars. The high-voltage battery and drive system go to the dealer.

## Do you have a fleet program?

Businesses with 5 or more vehicles get 10 percent off labor, one monthly invoice payable within 30 days, and priority booking.

## Why is my check engine light on?

It can be anything from a loose gas cap to a failing catalytic converter. Our diagnosis reads the codes and tests the system; do not drive the car if the light is flashing.
""",
)

TIRES = Doc(
    "seasonal-tire-service.txt",
    """
# Seasonal Tire Service

## Tire changeover season

Winter tire changeover appointments open on October 15 and run until December 15. Spring changeovers run from April 1 to May 31. Book early: the first snowfall fills the calendar in a day.

## Changeover prices

- Swap of winter tires already mounted on their own rims: $65
- Mount and balance tires on the same set of rims: $110
- TPMS sensor reset after a changeover: included

## Tire storage

We store your off-season set of four tires for $80 per season, washed, bagged and labelled with your plate number. Storage includes a tread depth check when we put the tires back on.

## When to replace

Replace a tire when the tread is down to 4/32 of an inch for winter driving, or 2/32 of an inch at the latest. Tires older than 6 years should be replaced whatever the tread.
""",
)

BUSINESS = Business(
    slug="northside-auto",
    name=NAME,
    docs=[HOURS, PRICES, WARRANTY, SERVICES, FAQ, TIRES],
    questions=[
        # Hours (txt)
        ("hours-and-location.txt", "k", ["distractor"], "hi um what are your hours in the winter", ["Monday to Friday: 7:30 a.m. to 5:30 p.m."]),
        ("hours-and-location.txt", "k", ["distractor"], "what are your summer hours monday to friday", ["Monday to Friday: 7:00 a.m. to 6:00 p.m."]),
        ("hours-and-location.txt", "p", ["distractor"], "can i come in on a saturday morning in july", ["Saturday: 8:00 a.m. to 2:00 p.m."]),
        ("hours-and-location.txt", "p", ["distractor"], "uh are you guys around on saturdays in january", ["Saturday and Sunday: closed"]),
        ("hours-and-location.txt", "k", [], "i can only get the car there at night after work how does that work", ["key drop slot to the left of the front door"]),
        ("hours-and-location.txt", "p", [], "what's your address", ["4410 Industrial Parkway, Millbrook"]),
        ("hours-and-location.txt", "p", [], "how do i find you is it near the bus station", ["between the lumber yard and the bus depot"]),
        ("hours-and-location.txt", "k", [], "are you open the friday after thanksgiving", ["open from 8:00 a.m. to noon for pick-ups only"]),
        ("hours-and-location.txt", "p", [], "where should i leave the car if i'm dropping it off overnight", ["spaces marked with green paint"]),
        # Price list (pdf)
        ("price-list.pdf", "k", ["table"], "yeah what's your uh labor rate", ["$138 per hour"]),
        ("price-list.pdf", "k", ["table", "distractor"], "how much is the diagnostic fee", ["$95"]),
        ("price-list.pdf", "k", ["table", "distractor"], "my check engine light came on how much just to find out what's wrong", ["$95"]),
        ("price-list.pdf", "k", ["table", "distractor"], "how much for a state inspection", ["$37"]),
        ("price-list.pdf", "p", ["table"], "i'm buying a used honda off craigslist can you look it over first and what's that run", ["$129"]),
        ("price-list.pdf", "k", ["table", "distractor"], "how much is a full synthetic oil change", ["$89.95"]),
        ("price-list.pdf", "k", ["table", "distractor"], "what's the cheapest oil change you do", ["$49.95"]),
        ("price-list.pdf", "k", ["table"], "how much for brake pads um front ones", ["$199"]),
        ("price-list.pdf", "p", ["table"], "um my brakes are grinding if i need the discs and the pads up front what's that", ["$389"]),
        ("price-list.pdf", "p", ["table"], "how much to get my car lined up it pulls to the right", ["$119"]),
        ("price-list.pdf", "k", ["table"], "how much to fix a flat tire", ["$28"]),
        ("price-list.pdf", "p", ["table"], "my car won't start in the mornings how much for a new one put in", ["$179"]),
        ("price-list.pdf", "p", ["table"], "the air in my car is blowing warm what do you charge to fix that", ["$149"]),
        ("price-list.pdf", "k", ["table"], "how often am i supposed to change the fluid for my brakes", ["Recommended every 3 years"]),
        ("price-list.pdf", "k", ["table"], "how much is the emissions test", ["$29.95"]),
        ("price-list.pdf", "p", ["distractor"], "what's that extra percentage thing on my bill for", ["shop supplies fee of 6 percent of labor"]),
        ("price-list.pdf", "p", ["distractor"], "why did you charge me four bucks a tire", ["environmental disposal fee of $4 per tire"]),
        ("price-list.pdf", "k", [], "can i like finance a repair", ["Synchrony Car Care"]),
        ("price-list.pdf", "p", ["table"], "one of my headlights is out what's it cost", ["$42"]),
        # Warranty (docx)
        ("warranty-and-repair-policies.docx", "k", ["table"], "what warranty do you give on repairs", ["24 months or 24,000 miles, whichever comes first"]),
        ("warranty-and-repair-policies.docx", "p", ["table"], "if you put a junkyard part in how long is that good for", ["90 days, parts only"]),
        ("warranty-and-repair-policies.docx", "p", ["table"], "i ordered my own parts on amazon is that covered if it breaks", ["No warranty on the part or the labor"]),
        ("warranty-and-repair-policies.docx", "p", [], "what if the repair fails when i'm on a road trip in another state", ["arrange the repair at a partner shop"]),
        ("warranty-and-repair-policies.docx", "p", [], "will you just go ahead and charge me more than you quoted", ["10 percent or $50 over the estimate"]),
        ("warranty-and-repair-policies.docx", "k", [], "do you charge extra to install parts i bring in", ["$25 handling charge per job"]),
        ("warranty-and-repair-policies.docx", "k", ["distractor"], "is there a storage fee if i don't pick up my car", ["storage fee of $35 per day"]),
        ("warranty-and-repair-policies.docx", "k", ["distractor"], "my car got towed to you without me knowing how much is it costing me every day", ["$20 per day until we reach you"]),
        ("warranty-and-repair-policies.docx", "p", [], "can i have the old stuff you took off my car", ["keep your old parts in a box in the trunk"]),
        ("warranty-and-repair-policies.docx", "k", ["table"], "what's the warranty on batteries", ["3-year free replacement"]),
        # Services (html)
        ("services.html", "k", [], "do you work on bmws", ["BMW, Volkswagen, Audi and Volvo"]),
        ("services.html", "p", [], "can you fix my harley", ["we do not work on motorcycles"]),
        ("services.html", "p", [], "somebody backed into me can you fix the dent and repaint the door", ["We do not do body work, paint or windshields"]),
        ("services.html", "k", [], "um do you have loaner cars", ["three loaner cars"]),
        ("services.html", "p", ["distractor"], "if you keep my car the whole week do i have to pay for the car you lend me", ["free for the first 2 days, then $30 per day"]),
        ("services.html", "p", ["distractor"], "can someone drive me to my office after i drop off the car", ["within 5 miles of the shop"]),
        ("services.html", "k", ["distractor"], "what hours does the shuttle run", ["7:30 a.m. to 4:30 p.m."]),
        ("services.html", "p", [], "is there internet while i sit and wait", ["free Wi-Fi, coffee"]),
        ("services.html", "p", [], "my uncle is 19 can he take one of your spare cars", ["must be 21 or older"]),
        # FAQ (md)
        ("faq.md", "k", [], "hi how long does an oil change take", ["About 45 minutes"]),
        ("faq.md", "k", [], "do you take walk ins", ["until 2:00 p.m. on weekdays"]),
        ("faq.md", "p", [], "my car died on the highway can you come get it", ["Big Rig Towing brings cars to us 24 hours a day"]),
        ("faq.md", "p", [], "do you guys do anything on teslas", ["tires, brakes, suspension, wipers and cabin filters on electric cars"]),
        ("faq.md", "p", [], "i run a landscaping company with six trucks do you give a discount", ["10 percent off labor"]),
        ("faq.md", "k", [], "the engine light is blinking is it okay to drive", ["do not drive the car if the light is flashing"]),
        ("faq.md", "p", [], "will i get a reminder before my appointment", ["confirm every booking by text message the day before"]),
        # Tires (txt)
        ("seasonal-tire-service.txt", "k", [], "when can i book my uh winter tire changeover", ["open on October 15"]),
        ("seasonal-tire-service.txt", "k", ["distractor"], "i've got my snow tires on their own wheels already how much to switch them", ["$65"]),
        ("seasonal-tire-service.txt", "k", ["distractor"], "how much if you have to take the tires off and put the winter ones on the same wheels", ["$110"]),
        ("seasonal-tire-service.txt", "k", [], "do you store tires and how much", ["$80 per season"]),
        ("seasonal-tire-service.txt", "p", [], "how do i know when my tires are too worn out", ["4/32 of an inch"]),
        ("seasonal-tire-service.txt", "p", [], "um until when in the spring can i get the summer ones put back on", ["April 1 to May 31"]),
    ],
)
