"""Pawsitive Care Veterinary Clinic: two locations, a fee schedule PDF, boarding and grooming."""

from __future__ import annotations

from build import Business, Doc

NAME = "Pawsitive Care Veterinary Clinic"

HOURS = Doc(
    "clinic-hours-and-locations.md",
    """
# Hours and Locations

Pawsitive Care has two locations. The Elm Street Hospital is our full-service hospital with surgery, X-ray and boarding. The Riverside Clinic is a smaller satellite clinic for exams, vaccines and rechecks.

## Elm Street Hospital

Address: 2250 Elm Street, Millbrook.

- Monday to Friday: 7:30 a.m. to 7:00 p.m.
- Saturday: 8:00 a.m. to 4:00 p.m.
- Sunday: closed

Parking: free lot behind the building with 14 spaces; the entrance is off Birch Lane.

## Riverside Clinic

Address: 18 Quay Road, Unit 4, Millbrook (next to the ferry terminal).

- Tuesday, Wednesday and Thursday: 9:00 a.m. to 5:30 p.m.
- Saturday: 9:00 a.m. to 1:00 p.m.
- Closed Monday, Friday and Sunday

Parking: two-hour street parking on Quay Road. The Harbor Garage validates 90 minutes for Riverside clients; bring your ticket to the front desk.

## Holiday hours

Both locations are closed on New Year's Day, Thanksgiving Day and December 25. On December 24 and December 31 the Elm Street Hospital closes early at 2:00 p.m. and the Riverside Clinic is closed.

## After-hours emergencies

When we are closed, call the Tri-County Animal Emergency Center at 555-0199. They are open 24 hours a day, 7 days a week, at 940 Route 9, and they send the records of your visit to us the next morning.
""",
)

FEES = Doc(
    "fee-schedule-2026.pdf",
    """
# Fee Schedule 2026

These are our standard fees at both locations. Estimates for surgery and dentistry are written up after an exam, because the final price depends on the weight, age and health of your pet.

## Examinations

| Service | Fee | Notes |
| Wellness exam | $68 | Yearly check-up, includes weight and nutrition advice |
| Sick pet exam | $78 | Same-day appointment for a pet that is unwell |
| Emergency exam during open hours | $125 | Seen without an appointment, ahead of the schedule |
| Recheck exam | $35 | Within 14 days of the first exam, same problem |
| Exotic pet exam | $84 | Rabbits, guinea pigs and ferrets |

## Vaccines

| Vaccine | Fee | Notes |
| Rabies (dog or cat) | $32 | 1-year or 3-year vaccine |
| DHPP (dog) | $36 | Distemper combination |
| Bordetella kennel cough (dog) | $29 | Required for boarding |
| FVRCP (cat) | $38 | Feline distemper combination |
| Feline leukemia (cat) | $41 | Recommended for outdoor cats |

---page---

## Tests and small procedures

| Service | Fee | Notes |
| Heartworm test | $46 | Yearly for dogs |
| Fecal parasite test | $44 | Bring a fresh sample |
| Nail trim | $22 | No appointment needed at Elm Street |
| Anal gland expression | $27 | |
| Microchip | $55 | Includes lifetime registration |
| Health certificate for travel | $95 | Issue within 10 days of the trip |

## Surgery and dentistry

| Procedure | Starting at | Notes |
| Cat neuter | $240 | |
| Cat spay | $310 | |
| Dog neuter | $390 | Under 50 lb |
| Dog spay | $480 | Under 50 lb |
| Dental cleaning under anesthesia | $450 | Extractions priced separately |

---page---

## End of life care

| Service | Fee | Notes |
| Euthanasia | $180 | Quiet room, you may stay with your pet |
| Communal cremation | $75 | Ashes are not returned |
| Private cremation | $210 | Ashes returned in a cedar box |
| Paw print keepsake | $30 | Clay impression |

## Deposits and payment

Surgery and dental procedures need a deposit of 50 percent of the low end of the estimate when you book. Payment of the rest is due when your pet goes home. We accept cash, all major credit cards, CareCredit and Scratchpay. We do not accept personal checks.
""",
    header="Pawsitive Care Veterinary Clinic - Fee Schedule 2026 - 555-0134",
    footer="Prices effective March 1, 2026",
)

BOARDING = Doc(
    "boarding-and-grooming.docx",
    """
# Boarding and Grooming

Boarding and grooming are offered at the Elm Street Hospital only. A veterinary technician checks every boarding guest each morning and evening.

## Boarding rates

| Guest | Per night | Notes |
| Dog under 30 lb | $42 | Indoor run with a raised bed |
| Dog 30 lb and over | $52 | Large run |
| Cat | $28 | Cat condo away from the dogs |
| Second pet sharing the same run | 20% off | Same family only |
| Medication given during the stay | $6 per day | Pills or liquid |

## Drop-off and pick-up

Boarding check-in runs from 7:30 a.m. to 10:00 a.m. on weekdays. Pets must be collected by 11:00 a.m. on the day you leave; a pet collected after 11:00 a.m. is charged a half-day fee of $21.

We do not take boarding arrivals or departures on Sundays.

## What boarding guests need

Dogs need current rabies, DHPP and Bordetella vaccines; the Bordetella vaccine must have been given at least 5 days before check-in. Cats need current rabies and FVRCP vaccines. Please bring your pet's own food in a labelled bag so the diet does not change; we provide bowls, bedding and toys.

## Grooming menu

| Service | Small dog | Large dog |
| Bath and brush | $47 | $65 |
| Full groom with haircut | $85 | $120 |
| De-shedding treatment | $18 | $26 |
| Nail trim added to a groom | $14 | $16 |
| Teeth brushing add-on | $10 | $10 |

Our groomer works Tuesday to Saturday. Cats are groomed only on Wednesdays, with sedation if a vet decides it is needed.
""",
)

FAQ = Doc(
    "new-client-faq.html",
    """
# New Client Questions

## Do you see animals other than cats and dogs?

Yes: Dr. Hannah Stein sees rabbits, guinea pigs and ferrets at the Elm Street Hospital. We do not treat birds or reptiles; for those, please call Millbrook Avian and Exotic Vet.

## What should I bring to the first visit?

Bring your pet's previous vaccine and medical records, a list of any medicines, and a fresh stool sample if you have one. Dogs should be on a leash and cats in a carrier.

## Do I need an appointment?

Most visits are by appointment. Walk-ins for urgent problems are accepted at Elm Street until 5:00 p.m. on weekdays. The Riverside Clinic is by appointment only.

## Can I book online?

Yes, through the client portal at any time. New clients can book a first visit online as long as it is a wellness visit; a sick pet should be booked by phone.

## Do you take pet insurance?

We do not bill insurance companies directly; you pay us, and we give you an itemized invoice and fill in your claim form for free. Trupanion policies can be paid directly at checkout through Trupanion Express at the Elm Street Hospital.

## Do you offer payment plans?

We work with CareCredit and Scratchpay, which offer monthly payments for bills over $200. We cannot offer in-house payment plans.

## Do you make house calls?

Dr. Okafor makes house calls for end of life care only, Monday and Friday afternoons within 10 miles of Elm Street.
""",
    nav=["Home", "Services", "Fees", "New Clients", "Contact"],
    footer="Pawsitive Care Veterinary Clinic | 2250 Elm Street, Millbrook | Copyright 2026",
    script="""
// Banner text from the 2023 campaign (kept for the A/B test).
var promoBanner = "New client special: wellness exam only $49! Now open Sundays 10am-2pm at Riverside.";
var walkInCutoff = "Walk-ins accepted until 8:00 p.m.";
""",
)

POLICIES = Doc(
    "appointment-policies.txt",
    """
# Appointment and Clinic Policies

## Cancelling or moving an appointment

Please give us at least 24 hours notice if you need to cancel or move an appointment. Appointments missed without notice, or cancelled with less than 24 hours notice, are charged a missed appointment fee of $40.

## Cancelling a surgery

Surgery dates are held for you with a deposit. If you cancel a surgery with less than 48 hours notice, the $100 surgery hold is not refunded. With more notice the deposit is moved to the new date.

## Arriving late

If you arrive more than 15 minutes late we may ask you to reschedule, so that other patients are not kept waiting.

## Prescription refills

Request refills through the client portal or by phone and allow 48 hours. A pet must have been examined by one of our vets in the last 12 months before we can refill a prescription. We can send prescriptions to an online pharmacy such as Chewy for a $10 authorization fee.

## Nervous or aggressive pets

Let us know when you book if your pet is anxious or may bite. We can give a pre-visit calming medication and book the first appointment of the day, when the waiting room is quiet. Dogs that may bite will be muzzled for their safety and ours.

## Records

Copies of your pet's records are emailed free of charge within 2 business days.
""",
)

SURGERY = Doc(
    "surgery-day-instructions.txt",
    """
# Surgery Day Instructions

## The night before

No food after 10:00 p.m. the night before surgery. Water is fine until 6:00 a.m. on the morning of surgery. Rabbits and guinea pigs must not be fasted; bring their usual food along.

## Drop-off

Surgery drop-off is between 7:30 a.m. and 8:15 a.m. at the Elm Street Hospital. A technician goes through the consent form with you and takes a phone number where you can be reached all day.

## Going home

Most pets go home the same day between 4:00 p.m. and 6:00 p.m. We call you when your pet is awake to agree on a time. Your pet goes home with a recovery cone, pain medicine and written instructions.

## Aftercare

Keep the cone on and limit running and jumping for 10 to 14 days. Stitches are removed 10 to 14 days after surgery at a free suture-removal visit. Call us if the wound is red, swollen or leaking.
""",
)

TEAM = Doc(
    "our-team.docx",
    """
# Our Team

## Veterinarians

| Name | Role | Where and when |
| Dr. Amara Okafor | Medical director, surgery | Elm Street, Monday to Friday |
| Dr. Luis Ferreira | Cats and dentistry | Riverside on Tuesday and Thursday, Elm Street on Saturday |
| Dr. Hannah Stein | Exotic pets, ultrasound | Elm Street, Wednesday to Saturday |

## Support team

| Name | Role |
| Colleen Ruiz | Practice manager; billing questions and complaints |
| Tasha Bell | Head groomer |
| Marcus Lee | Lead veterinary technician, boarding supervisor |

## Jobs

We are hiring a part-time receptionist for the Riverside Clinic. Send a resume to the practice manager; we do not take applications by phone.
""",
)

BUSINESS = Business(
    slug="pawsitive-vet",
    name=NAME,
    docs=[HOURS, FEES, BOARDING, FAQ, POLICIES, SURGERY, TEAM],
    questions=[
        # Hours and locations (md)
        ("clinic-hours-and-locations.md", "k", ["distractor"], "hi um what are your hours on saturday at the elm street hospital", ["Saturday: 8:00 a.m. to 4:00 p.m."]),
        ("clinic-hours-and-locations.md", "k", ["distractor"], "um is the riverside clinic open on saturday", ["Saturday: 9:00 a.m. to 1:00 p.m."]),
        ("clinic-hours-and-locations.md", "p", [], "how late can i come by on a weekday like a tuesday evening to the main hospital", ["7:30 a.m. to 7:00 p.m."]),
        ("clinic-hours-and-locations.md", "p", [], "uh can i bring my cat to the little one by the ferry on a monday", ["Closed Monday, Friday and Sunday"]),
        ("clinic-hours-and-locations.md", "k", [], "uh where do i park at elm street", ["free lot behind the building with 14 spaces"]),
        ("clinic-hours-and-locations.md", "p", ["distractor"], "if i leave my car in the garage down by the water do you guys cover that", ["validates 90 minutes"]),
        ("clinic-hours-and-locations.md", "k", [], "what's the address of the riverside clinic", ["18 Quay Road, Unit 4"]),
        ("clinic-hours-and-locations.md", "p", [], "hi um are you guys open on christmas eve", ["closes early at 2:00 p.m."]),
        ("clinic-hours-and-locations.md", "p", [], "my dog ate chocolate and it's like midnight who do i call", ["Tri-County Animal Emergency Center at 555-0199"]),
        ("clinic-hours-and-locations.md", "k", [], "are you open thanksgiving day", ["closed on New Year's Day, Thanksgiving Day and December 25"]),
        ("clinic-hours-and-locations.md", "p", [], "which of your two places can actually do x rays and operations", ["full-service hospital with surgery, X-ray and boarding"]),
        # Fee schedule (pdf)
        ("fee-schedule-2026.pdf", "k", ["table", "distractor"], "yeah hi how much is a wellness exam", ["$68"]),
        ("fee-schedule-2026.pdf", "p", ["table", "distractor"], "what does it cost just to get my dog looked at for his yearly checkup", ["$68"]),
        ("fee-schedule-2026.pdf", "k", ["table", "distractor"], "how much is an emergency exam if i just walk in", ["$125"]),
        ("fee-schedule-2026.pdf", "p", ["table", "distractor"], "my cat's been throwing up since yesterday what's it cost to have her seen today", ["$78"]),
        ("fee-schedule-2026.pdf", "p", ["table"], "um if i have to bring him back next week for the same ear thing is that cheaper", ["$35"]),
        ("fee-schedule-2026.pdf", "k", ["table"], "um how much is the uh rabies vaccine", ["$32"]),
        ("fee-schedule-2026.pdf", "p", ["table"], "what do you charge for the kitty distemper shot", ["$38"]),
        ("fee-schedule-2026.pdf", "k", ["table", "distractor"], "do you guys do nail trims and how much", ["$22"]),
        ("fee-schedule-2026.pdf", "k", ["table"], "how much is a microchip", ["$55"]),
        ("fee-schedule-2026.pdf", "p", ["table"], "i'm flying to my mom's with the dog what do i need from you paperwise and what's it cost", ["$95"]),
        ("fee-schedule-2026.pdf", "k", ["table"], "so how much to spay a cat", ["$310"]),
        ("fee-schedule-2026.pdf", "p", ["table"], "what's the price to get my boy dog fixed he's about forty pounds", ["$390"]),
        ("fee-schedule-2026.pdf", "k", ["table"], "how much is a dental cleaning", ["$450"]),
        ("fee-schedule-2026.pdf", "p", ["table", "distractor"], "if we want her ashes back afterwards what's that cost", ["$210"]),
        ("fee-schedule-2026.pdf", "k", ["table"], "how much is the heartworm test", ["$46"]),
        ("fee-schedule-2026.pdf", "p", ["table"], "how much for a checkup for my bunny", ["$84"]),
        ("fee-schedule-2026.pdf", "p", [], "do i have to pay something up front when i book the operation", ["deposit of 50 percent of the low end of the estimate"]),
        ("fee-schedule-2026.pdf", "k", [], "do you accept personal checks", ["We do not accept personal checks"]),
        # Boarding and grooming (docx)
        ("boarding-and-grooming.docx", "k", ["table"], "hi how much is boarding for a cat per night", ["$28"]),
        ("boarding-and-grooming.docx", "p", ["table"], "what would it cost a night for my golden retriever to stay with you he's like seventy pounds", ["$52"]),
        ("boarding-and-grooming.docx", "p", [], "what time can i drop my dog off for his stay", ["7:30 a.m. to 10:00 a.m. on weekdays"]),
        ("boarding-and-grooming.docx", "p", ["distractor"], "what happens if i pick him up from boarding in the afternoon instead", ["half-day fee of $21"]),
        ("boarding-and-grooming.docx", "k", [], "um what vaccines does my dog need for for boarding", ["the Bordetella vaccine must have been given at least 5 days before check-in"]),
        ("boarding-and-grooming.docx", "p", [], "should i pack her kibble or do you feed them", ["bring your pet's own food in a labelled bag"]),
        ("boarding-and-grooming.docx", "k", ["table"], "how much is a full groom with haircut for a large dog", ["$120"]),
        ("boarding-and-grooming.docx", "p", ["table"], "what's it run to just wash and brush out my little shih tzu", ["$47"]),
        ("boarding-and-grooming.docx", "k", ["table", "distractor"], "how much is a nail trim added to a groom", ["$14"]),
        ("boarding-and-grooming.docx", "p", [], "um do you do haircuts for cats and what day", ["Cats are groomed only on Wednesdays"]),
        ("boarding-and-grooming.docx", "p", ["table"], "she takes a pill twice a day while she's staying is that extra", ["$6 per day"]),
        ("boarding-and-grooming.docx", "k", [], "can i pick up my dog from boarding on sunday", ["We do not take boarding arrivals or departures on Sundays"]),
        # FAQ (html)
        ("new-client-faq.html", "k", [], "do you see rabbits or ferrets", ["Dr. Hannah Stein sees rabbits, guinea pigs and ferrets"]),
        ("new-client-faq.html", "p", [], "my daughter has a bearded dragon can you look at him", ["We do not treat birds or reptiles"]),
        ("new-client-faq.html", "k", ["distractor"], "do you guys take walk ins", ["Walk-ins for urgent problems are accepted at Elm Street until 5:00 p.m. on weekdays"]),
        ("new-client-faq.html", "k", [], "what should we bring along the first time we come in", ["previous vaccine and medical records"]),
        ("new-client-faq.html", "k", [], "do you take pet insurance", ["We do not bill insurance companies directly"]),
        ("new-client-faq.html", "k", [], "can i split the bill into monthly payments", ["CareCredit and Scratchpay, which offer monthly payments"]),
        ("new-client-faq.html", "p", [], "can the vet come to our house to put our old dog to sleep", ["house calls for end of life care only"]),
        ("new-client-faq.html", "k", [], "can i book online if my pet is sick", ["a sick pet should be booked by phone"]),
        # Policies (txt)
        ("appointment-policies.txt", "k", ["distractor"], "uh is there like a fee if i miss my appointment", ["missed appointment fee of $40"]),
        ("appointment-policies.txt", "p", ["distractor"], "um if i call off the spay the day before do i lose my money", ["the $100 surgery hold is not refunded"]),
        ("appointment-policies.txt", "p", [], "i'm running like twenty minutes behind is that okay", ["more than 15 minutes late"]),
        ("appointment-policies.txt", "k", [], "how long does a prescription refill take", ["allow 48 hours"]),
        ("appointment-policies.txt", "k", [], "can you send his meds to chewy instead", ["$10 authorization fee"]),
        ("appointment-policies.txt", "p", [], "my dog gets really freaked out at the vet and sometimes snaps what can you do", ["pre-visit calming medication"]),
        ("appointment-policies.txt", "k", [], "how do i get a copy of my pet's records", ["emailed free of charge within 2 business days"]),
        # Surgery (txt)
        ("surgery-day-instructions.txt", "p", [], "when does she have to stop eating before her spay", ["No food after 10:00 p.m. the night before surgery"]),
        ("surgery-day-instructions.txt", "k", ["distractor"], "okay what time is surgery drop off", ["between 7:30 a.m. and 8:15 a.m."]),
        ("surgery-day-instructions.txt", "p", [], "what time can we come get him after the operation", ["between 4:00 p.m. and 6:00 p.m."]),
        ("surgery-day-instructions.txt", "p", [], "do i have to pay to get the stitches out", ["free suture-removal visit"]),
        ("surgery-day-instructions.txt", "k", [], "should i fast my rabbit before surgery", ["Rabbits and guinea pigs must not be fasted"]),
        # Team (docx)
        ("our-team.docx", "k", ["table"], "which vet does cats and dentistry", ["Dr. Luis Ferreira"]),
        ("our-team.docx", "p", ["table"], "which days is the cat doctor over at the riverside office", ["Riverside on Tuesday and Thursday"]),
        ("our-team.docx", "p", ["table"], "who do i talk to about a problem with my bill", ["Colleen Ruiz"]),
        ("our-team.docx", "k", [], "are you hiring a receptionist", ["part-time receptionist for the Riverside Clinic"]),
    ],
)
