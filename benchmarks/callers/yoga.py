"""Lotus Flow Yoga: two studios, a schedule PDF with a summer timetable, passes, policies."""

from __future__ import annotations

from build import Business, Doc

NAME = "Lotus Flow Yoga"

SCHEDULE = Doc(
    "class-schedule.pdf",
    """
# Class Schedule

Regular timetable from September 2 to June 14. Classes are 60 minutes unless the name says otherwise. Book a spot in the app; walk-ins are welcome when the class is not full.

## Weekday classes

| Day | Time | Class | Studio | Teacher |
| Monday | 6:15 a.m. | Sunrise Flow | Downtown | Priya |
| Monday | 12:10 p.m. | Lunch Express (45 min) | Downtown | Ben |
| Monday | 7:30 p.m. | Hot Vinyasa | Westgate | Carla |
| Tuesday | 9:30 a.m. | Gentle Flow | Westgate | Ruth |
| Tuesday | 6:00 p.m. | Foundations | Downtown | Ben |
| Wednesday | 8:45 a.m. | Mat Pilates Fusion | Downtown | Maya |
| Wednesday | 5:45 p.m. | Hot Power | Westgate | Carla |
| Thursday | 10:30 a.m. | Chair Yoga for Seniors | Downtown | Ruth |
| Thursday | 7:45 p.m. | Restorative (75 min) | Downtown | Jonah |
| Friday | 12:30 p.m. | Lunch Express (45 min) | Downtown | Ben |
| Friday | 6:30 p.m. | Candlelight Yin | Westgate | Jonah |

---page---

## Weekend classes

| Day | Time | Class | Studio | Teacher |
| Saturday | 8:00 a.m. | Hot Vinyasa | Westgate | Carla |
| Saturday | 11:15 a.m. | Prenatal Yoga | Westgate | Ruth |
| Saturday | 1:00 p.m. | Kids Yoga (ages 6-11) | Downtown | Maya |
| Sunday | 9:45 a.m. | Slow Flow | Downtown | Priya |
| Sunday | 5:00 p.m. | Yin and Sound Bath (90 min) | Downtown | Jonah |

Hot classes are taught in the Westgate heated room at 38 degrees Celsius. All other classes are unheated.

---page---

## Summer timetable (June 15 to September 1)

In summer the early classes move later and the evening hot classes take a break.

| Day | Time | Class | Studio |
| Monday | 7:00 a.m. | Sunrise Flow | Downtown |
| Tuesday and Thursday | 6:45 p.m. | Sunset Flow in the Park | Riverside Park bandstand |
| Saturday | 9:00 a.m. | Hot Vinyasa | Westgate |

Park classes are cancelled when it rains; we post a notice in the app by 4:00 p.m.
""",
    header="Lotus Flow Yoga - Class Schedule 2026 - lotusflowyoga.example",
    footer="Schedule subject to change; check the app",
)

PRICES = Doc(
    "pricing-and-memberships.docx",
    """
# Pricing and Memberships

## Class passes

| Option | Price | Valid for |
| Drop-in class | $24 | One class |
| 5-class pack | $110 | 3 months |
| 10-class pack | $200 | 6 months from first use |
| 20-class pack | $360 | 12 months from first use |
| Intro offer: 3 weeks unlimited | $59 | New students only, once |

## Memberships

| Membership | Price | Details |
| Unlimited monthly | $149 per month | Auto-renews, 3-month minimum |
| Unlimited annual | $1,490 per year | Paid up front, 2 guest passes |
| Off-peak monthly | $99 per month | Classes starting between 10:00 a.m. and 4:00 p.m. on weekdays |

## Discounts

Students, seniors over 65, teachers, nurses and first responders get 15 percent off any pass or membership with ID. Discounts do not combine with the intro offer.

## Rentals

Mat rental is $3 and towel rental is $2 per class. Both are free for annual members.

## Freezing a membership

You can freeze a monthly or annual membership for up to 2 months per calendar year, for example for travel or an injury. A freeze costs $10 per month and must be requested before the next billing date.
""",
)

POLICIES = Doc(
    "studio-policies.md",
    """
# Studio Policies

## Booking and late cancellation

Cancel in the app at least 12 hours before class to get your class back. If you cancel later, a class-pack holder loses the class and an unlimited member pays a late cancellation fee of $10. Not showing up at all costs unlimited members a no-show fee of $15.

## Arriving on time

Doors lock 5 minutes after class starts so that the room can settle. If you are late, you can join the next class instead. First-timers should arrive 15 minutes early to fill in the waiver and get a tour.

## Cancelling a membership

Monthly memberships can be cancelled after the 3-month minimum with 30 days notice by email to the front desk. Annual memberships are not refundable but can be transferred to a friend once for a $25 transfer fee.

## Refunds

Class packs and drop-ins are non-refundable. If you move more than 25 miles away, we refund the unused part of an annual membership.

## Children

Teens aged 13 to 15 may take regular classes with a parent or guardian in the same class; from 16 they may come on their own. Kids Yoga on Saturdays is for ages 6 to 11, and parents wait in the lounge.

## Hot room safety

Drink water before hot classes and bring a full bottle. Tell the teacher if you are pregnant, have heart or blood pressure problems, or feel dizzy; you may leave the hot room at any time.
""",
)

LOCATIONS = Doc(
    "locations.html",
    """
# Our Studios

## Downtown studio

212 Main Street, second floor, above the Bean There Cafe. Take the stairs next to the cafe door; there is a lift at the back of the building for anyone who needs it.

Parking: the municipal lot on Pine Street is $1.50 per hour and free after 6:00 p.m. and on Sundays. Bike racks are in front of the cafe.

Front desk: open 30 minutes before the first class until 15 minutes after the last class.

## Westgate studio

7 Orchard Lane, in the Westgate Shopping Plaza, between the pharmacy and the library branch. Westgate has our heated room, changing rooms with two showers, and lockers.

Parking: free parking in the plaza lot, in front of the studio.

## What each studio offers

Downtown has two unheated rooms and a props library. Westgate has the heated room, showers and the infrared sauna, which members can use for 20 minutes after class.

## Holidays

Both studios are closed on January 1 and December 25. On Thanksgiving morning we hold one community class at 9:30 a.m. at Downtown, by donation to the Millbrook Food Bank.
""",
    nav=["Home", "Schedule", "Pricing", "Studios", "Teacher Training", "Contact"],
    footer="Lotus Flow Yoga | hello@lotusflowyoga.example | Copyright 2026",
    script="""
/* Old popup, replaced in 2024 */
const popup = "Drop-in classes just $18! Hot yoga now at our Downtown studio. Showers at both locations.";
""",
)

GUIDE = Doc(
    "new-student-guide.txt",
    """
# New Student Guide

## Which class should I take first?

Start with Foundations or Gentle Flow. Foundations teaches the basic poses step by step; Gentle Flow is slow and suits stiff bodies and people coming back from an injury. Wait a few weeks before trying a hot class.

## What to wear

Wear stretchy clothes you can move in, not jeans. We practice barefoot. For hot classes wear light, quick-drying clothes.

## What to bring

Bring a water bottle and your own mat if you have one. We have mats, blocks, straps and blankets for everyone.

## Lockers and valuables

Cubbies are open shelves. Westgate also has lockers; bring your own padlock, because locks left overnight are cut off.

## Yoga while pregnant

Our Prenatal Yoga class is safe from the second trimester with your doctor's approval. Avoid hot classes during pregnancy.

## Eating before class

Eat a light snack up to 2 hours before class, not a full meal.
""",
)

TRAINING = Doc(
    "training-and-private-sessions.md",
    """
# Teacher Training and Private Sessions

## Private sessions

A private session with one of our senior teachers is $95 for 60 minutes or $135 for 90 minutes. A duet session for two people is $120 for 60 minutes. A pack of 5 private hours is $425. Private sessions can be at the studio or at your home within Millbrook.

## 200-hour teacher training

Our Yoga Alliance registered 200-hour training starts on September 12, 2026 and runs on weekends for 5 months. Tuition is $2,950, or $2,650 if paid in full by July 1. A non-refundable deposit of $500 holds your place. Payment in 5 monthly instalments is possible.

Lead trainers are Priya Raman and Jonah Webb. An application with a short interview is required; you need at least one year of regular practice.

## Workshops

Monthly weekend workshops on inversions, breathwork and yoga for runners cost $45 each, or $35 for members.

## Corporate yoga

We teach at offices in Millbrook; a 45-minute class for up to 20 people costs $180.
""",
)

BUSINESS = Business(
    slug="lotus-yoga",
    name=NAME,
    docs=[SCHEDULE, PRICES, POLICIES, LOCATIONS, GUIDE, TRAINING],
    questions=[
        # Schedule (pdf)
        ("class-schedule.pdf", "k", ["table"], "what time is the um prenatal yoga class", ["11:15 a.m."]),
        ("class-schedule.pdf", "p", ["table"], "um i'm expecting in march is there something for moms to be and when is it", ["11:15 a.m."]),
        ("class-schedule.pdf", "k", ["table"], "when is chair yoga for seniors", ["10:30 a.m."]),
        ("class-schedule.pdf", "p", ["table"], "my grandma can't get down on the floor is there a class for her", ["Chair Yoga for Seniors"]),
        ("class-schedule.pdf", "k", ["table"], "what's there on a monday lunch break like around noon", ["12:10 p.m."]),
        ("class-schedule.pdf", "k", ["table"], "what time is the sound bath on sunday", ["5:00 p.m."]),
        ("class-schedule.pdf", "p", ["table"], "is there something for my eight year old on the weekend", ["Kids Yoga (ages 6-11)"]),
        ("class-schedule.pdf", "k", ["table", "distractor"], "what time is sunrise flow", ["6:15 a.m."]),
        ("class-schedule.pdf", "k", ["table", "distractor"], "in july what time does the early morning class start", ["7:00 a.m."]),
        ("class-schedule.pdf", "p", ["table"], "do you do anything outside when it's warm", ["Sunset Flow in the Park"]),
        ("class-schedule.pdf", "p", [], "what if it's pouring for the outdoor class", ["Park classes are cancelled when it rains"]),
        ("class-schedule.pdf", "k", [], "how hot is the hot room", ["38 degrees Celsius"]),
        ("class-schedule.pdf", "p", ["table"], "what time's the one by candlelight at the end of the week", ["6:30 p.m."]),
        ("class-schedule.pdf", "k", ["table"], "when is the restorative class", ["7:45 p.m."]),
        ("class-schedule.pdf", "p", ["table", "distractor"], "what time saturday is the sweaty class during summer", ["9:00 a.m."]),
        ("class-schedule.pdf", "k", ["table"], "when is hot power", ["5:45 p.m."]),
        # Pricing (docx)
        ("pricing-and-memberships.docx", "k", ["table"], "um how much is a drop in class", ["$24"]),
        ("pricing-and-memberships.docx", "p", ["table"], "i just want to try one class what's that cost", ["$24"]),
        ("pricing-and-memberships.docx", "k", ["table"], "how much is the 10 class pack", ["$200"]),
        ("pricing-and-memberships.docx", "p", ["table"], "if i buy ten classes how long do i have to use them", ["6 months from first use"]),
        ("pricing-and-memberships.docx", "k", ["table"], "how much is unlimited monthly", ["$149 per month"]),
        ("pricing-and-memberships.docx", "p", ["table"], "what's the deal for someone brand new", ["$59"]),
        ("pricing-and-memberships.docx", "p", ["table"], "i'm retired and can only come middle of the day is there something cheaper", ["$99 per month"]),
        ("pricing-and-memberships.docx", "k", ["table"], "and how much is the annual membership", ["$1,490 per year"]),
        ("pricing-and-memberships.docx", "k", [], "do you have a uh student discount", ["15 percent off any pass or membership"]),
        ("pricing-and-memberships.docx", "p", [], "i forgot my mat can i borrow one", ["Mat rental is $3"]),
        ("pricing-and-memberships.docx", "p", ["distractor"], "i'm going to be traveling for six weeks can i pause my membership", ["A freeze costs $10 per month"]),
        ("pricing-and-memberships.docx", "k", ["table"], "how much is the 20 class pack", ["$360"]),
        # Policies (md)
        ("studio-policies.md", "k", ["distractor"], "is there a late cancellation fee or", ["late cancellation fee of $10"]),
        ("studio-policies.md", "p", ["distractor"], "what if i totally forget and don't come to a class i booked", ["no-show fee of $15"]),
        ("studio-policies.md", "k", [], "how late can i cancel without losing it", ["at least 12 hours before class"]),
        ("studio-policies.md", "p", [], "i'm stuck in traffic can i still walk in a few minutes into class", ["Doors lock 5 minutes after class starts"]),
        ("studio-policies.md", "k", [], "how do i cancel my membership", ["30 days notice by email"]),
        ("studio-policies.md", "p", [], "can i give my yearly membership to my sister", ["$25 transfer fee"]),
        ("studio-policies.md", "p", [], "i'm moving to denver can i get my money back", ["more than 25 miles away"]),
        ("studio-policies.md", "p", [], "can my fourteen year old come with me", ["Teens aged 13 to 15 may take regular classes with a parent or guardian"]),
        ("studio-policies.md", "k", [], "can i get a refund on a class pack", ["Class packs and drop-ins are non-refundable"]),
        ("studio-policies.md", "p", [], "when should i show up for my very first class", ["arrive 15 minutes early to fill in the waiver"]),
        # Locations (html)
        ("locations.html", "k", [], "hi where is the downtown studio exactly", ["212 Main Street, second floor"]),
        ("locations.html", "p", ["distractor"], "where do i leave my car when i come to the one on main street", ["municipal lot on Pine Street"]),
        ("locations.html", "k", ["distractor"], "is parking free at westgate", ["free parking in the plaza lot"]),
        ("locations.html", "p", [], "can i rinse off after class", ["changing rooms with two showers"]),
        ("locations.html", "p", [], "is there an elevator i use a cane", ["lift at the back of the building"]),
        ("locations.html", "k", [], "oh do you have a sauna", ["infrared sauna"]),
        ("locations.html", "p", [], "are you doing anything on thanksgiving", ["community class at 9:30 a.m."]),
        ("locations.html", "k", [], "what are the front desk hours", ["open 30 minutes before the first class"]),
        ("locations.html", "p", [], "um which of your places is over by the pharmacy", ["7 Orchard Lane"]),
        # Guide (txt)
        ("new-student-guide.txt", "p", [], "i've never done yoga which one should i go to", ["Start with Foundations or Gentle Flow"]),
        ("new-student-guide.txt", "k", [], "what should i wear to yoga", ["stretchy clothes you can move in"]),
        ("new-student-guide.txt", "k", [], "do i need to buy my own mat and blocks before coming", ["We have mats, blocks, straps and blankets"]),
        ("new-student-guide.txt", "p", [], "can i leave my stuff in a locker till tomorrow", ["locks left overnight are cut off"]),
        ("new-student-guide.txt", "k", [], "can i do hot yoga while pregnant", ["Avoid hot classes during pregnancy"]),
        ("new-student-guide.txt", "p", [], "should i have lunch right before coming", ["light snack up to 2 hours before class"]),
        # Training (md)
        ("training-and-private-sessions.md", "k", ["distractor"], "um how much is a private session", ["$95 for 60 minutes"]),
        ("training-and-private-sessions.md", "p", ["distractor"], "me and my husband want a one on one lesson together what's the price", ["$120 for 60 minutes"]),
        ("training-and-private-sessions.md", "k", [], "when does teacher training start", ["September 12, 2026"]),
        ("training-and-private-sessions.md", "k", ["distractor"], "how much to become a yoga teacher with you", ["Tuition is $2,950"]),
        ("training-and-private-sessions.md", "p", ["distractor"], "is it cheaper if i pay for the whole course early", ["$2,650 if paid in full by July 1"]),
        ("training-and-private-sessions.md", "k", [], "how much are the workshops", ["$45 each"]),
        ("training-and-private-sessions.md", "p", [], "could someone come teach at our office", ["a 45-minute class for up to 20 people costs $180"]),
    ],
)
