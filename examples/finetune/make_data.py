"""Write the demo's data: support tickets to route to one of five teams.

    python examples/finetune/make_data.py [OUT_DIR]     (default: this script's folder)

Deterministic (a fixed seed), so every run of the demo trains and scores on the same files:
``train.jsonl`` (300 prompt/completion pairs) and ``heldout.jsonl`` (50 prompts in the shape
``weighbridge compare`` reads: ``prompt``, ``reference`` and an ``assert`` list). The held-out
tickets come from phrasings the training set never uses, so a tuned model has to route by
meaning it generalised, not by sentences it memorised.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

INSTRUCTION = (
    "Route this support ticket to one team: billing, shipping, technical, account or refund. "
    "Reply with the team name only.\n\nTicket: "
)

#: Per team, phrasings for training and, apart, phrasings kept for the held-out set.
TICKETS: dict[str, tuple[list[str], list[str]]] = {
    "billing": (
        [
            "I was charged twice for my {plan} subscription this month.",
            "Why does my invoice {order} show {amount} when my plan costs less?",
            "Please update the credit card you bill for my {plan} plan.",
            "My card was declined when paying invoice {order}, can you retry the payment?",
            "Can I get a VAT invoice for my last payment of {amount}?",
            "The {plan} plan price went up without notice, what am I paying for?",
            "I need to change the billing address on my invoices.",
            "There is an unknown charge of {amount} on my statement from you.",
            "How do I switch from monthly to yearly billing on {plan}?",
            "The payment for {order} went through but the invoice still says unpaid.",
            "Please send me copies of all invoices for this year.",
            "You billed me {amount} after I downgraded to the free plan.",
        ],
        [
            "My bank statement lists a {amount} debit from your company I can't explain.",
            "Could you email a receipt for the {amount} I paid yesterday?",
            "Your system keeps charging the old card instead of my new one.",
            "Invoice {order} has the wrong company name on it.",
        ],
    ),
    "shipping": (
        [
            "My order {order} still hasn't arrived after two weeks.",
            "The tracking number for {order} shows no movement since {day}.",
            "Can you ship my {product} to a different address?",
            "The courier left my {product} at the wrong house.",
            "Do you deliver to {city}, and how long does it take?",
            "My package {order} was marked delivered but I never got it.",
            "Can I upgrade order {order} to express delivery?",
            "The box for my {product} arrived crushed and open.",
            "When will order {order} be dispatched?",
            "I need my {product} before {day}, is next-day delivery possible?",
            "The delivery driver never showed up for order {order}.",
            "Is it possible to pick up my {product} from a local depot in {city}?",
        ],
        [
            "Where is my parcel? Order {order} was supposed to come on {day}.",
            "Customs is holding my {product} in {city}, what should I do?",
            "Half of order {order} came, the {product} is still missing in transit.",
            "Which carrier are you using to send my {product}?",
        ],
    ),
    "technical": (
        [
            "The app crashes every time I open the settings page.",
            "My {product} won't connect to wifi after the latest update.",
            "I get error code {code} when I try to sync my data.",
            "The website shows a blank page after I log in.",
            "My {product} keeps restarting by itself.",
            "Exports to PDF fail with error {code}.",
            "Notifications stopped working on my phone since {day}.",
            "The {product} firmware update is stuck at 50 percent.",
            "Search returns no results even for things I know exist.",
            "The API returns a 500 error with code {code} for every request.",
            "Bluetooth pairing with my {product} fails every time.",
            "The dashboard takes minutes to load and then times out.",
        ],
        [
            "After installing version 4.2 the {product} screen flickers constantly.",
            "Uploading files over 10 MB fails with message {code}.",
            "The desktop client freezes when I open a large project.",
            "My {product} battery drains in an hour since the update on {day}.",
        ],
    ),
    "account": (
        [
            "I forgot my password and the reset email never arrives.",
            "How do I change the email address on my account?",
            "Please delete my account and all my personal data.",
            "I can't log in, it says my account is locked.",
            "Can I add a second user to my {plan} account?",
            "How do I turn on two-factor authentication?",
            "I want to change my username to {name}.",
            "Someone else may have logged into my account from {city}.",
            "How do I merge my two accounts into one?",
            "My account shows the wrong name, it should be {name}.",
            "I lost my phone and can't get my two-factor codes.",
            "How can I transfer ownership of the workspace to {name}?",
        ],
        [
            "The sign-in page rejects my password even though it is right.",
            "Please remove {name} from the team members of my workspace.",
            "I'd like to download a copy of all the data you store about me.",
            "My profile was suspended and I don't know why.",
        ],
    ),
    "refund": (
        [
            "I want my money back for order {order}, the {product} is faulty.",
            "I cancelled within the trial, please refund the {amount}.",
            "How long does a refund take to reach my card?",
            "I returned the {product} last week, when will I get my refund?",
            "Can I get a refund for the unused months of my {plan} plan?",
            "Please refund order {order}, it arrived broken.",
            "I was promised a refund of {amount} but never received it.",
            "The {product} isn't what I expected, I'd like to return it for a refund.",
            "Can I get a partial refund since the {product} is missing a part?",
            "I'd like to cancel order {order} and get my money back.",
            "My refund for {order} was approved on {day} but nothing came.",
            "Do you refund the shipping costs when I return the {product}?",
        ],
        [
            "This {product} broke after two days, I want the {amount} returned to my card.",
            "Return label used, package {order} is back with you: where is my money?",
            "Please reverse the {amount} I paid for the event that was cancelled.",
            "I changed my mind about the {product}, can I send it back and be reimbursed?",
        ],
    ),
}

SLOTS = {
    "plan": ["Pro", "Team", "Basic", "Premium", "Starter"],
    "order": ["#4821", "#10934", "#77310", "#5502", "#23019", "#88127"],
    "amount": ["$19.99", "$240", "EUR 59", "$7.50", "GBP 120", "$1,200"],
    "product": ["headphones", "smart watch", "router", "blender", "camera", "keyboard", "thermostat"],
    "day": ["Monday", "Friday", "the 3rd", "last weekend", "March 12"],
    "city": ["Lyon", "Toronto", "Osaka", "Leeds", "Austin", "Porto"],
    "code": ["E1042", "0x80070005", "ERR_SYNC_7", "503-B", "AUTH-19"],
    "name": ["Maria Lopez", "Ken Ito", "Sam O'Neil", "Priya Shah"],
}


def ticket(template: str, rng: random.Random) -> str:
    return template.format(**{slot: rng.choice(values) for slot, values in SLOTS.items()})


def main(out: Path) -> None:
    rng = random.Random(20240501)
    train, heldout = [], []
    for team, (seen, unseen) in TICKETS.items():
        for i in range(60):
            train.append({"prompt": INSTRUCTION + ticket(seen[i % len(seen)], rng), "completion": team})
        for i in range(10):
            heldout.append(
                {
                    "id": f"{team}-{i + 1}",
                    "prompt": INSTRUCTION + ticket(unseen[i % len(unseen)], rng),
                    "reference": team,
                    "assert": [{"type": "normalised-match"}],
                }
            )
    rng.shuffle(train)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.jsonl", train), ("heldout.jsonl", heldout)):
        (out / name).write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
    print(f"{len(train)} training examples, {len(heldout)} held-out prompts in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
