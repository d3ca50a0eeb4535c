#!/usr/bin/env python3
"""Generate the customer-support intent data set used by the example suite.

Everything here is hand-written: for each of the ten intents there is a list of
base phrasings (statements and questions, short and long), a few "hard" phrasings
that borrow vocabulary from a neighbouring intent but are still labelled with one
intent, and shared slot fillers (order numbers, products, dates, amounts, ...).
A light layer of natural noise is applied on top: greetings, sign-offs,
occasional all-lowercase messages and a small fixed list of typos.

The output is deterministic (``random.Random(13)``) and uses the standard
library only::

    python3 example_suite/data/make_intents.py

writes, next to this script:

* ``intents_train.jsonl``  60 rows per intent, ``{"text", "label"}``
* ``intents_test.jsonl``   30 rows per intent, ``{"text", "label"}``
* ``intents_calib.jsonl``  64 rows, ``{"text"}`` only (static-quantization
  calibration; disjoint from train and test)

A quarter of each intent's base phrasings never appear in train (only in test
and calib), so the test split measures new wording as well as new slot values;
with the confusable "hard" phrasings this keeps a fine-tuned small encoder
below 100% (the target is roughly 85-97% test accuracy).

No text occurs twice, within or across the three files: duplicates are checked
on the phrasing before noise is added, ignoring case, punctuation and spacing,
so two rows never differ only by a greeting, a sign-off, casing or a typo.

Template syntax: ``{slot}`` is replaced by a random filler from ``SLOTS`` and
``[a|b|c]`` by one of the alternatives (an empty alternative is allowed).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

SEED = 13
N_TRAIN = 60  # per intent
N_TEST = 30  # per intent
N_CALIB = 64  # in total
HELDOUT_RATE = 0.25  # share of base phrasings that only appear in test / calib
OUT_DIR = Path(__file__).resolve().parent

# --------------------------------------------------------------------------
# Slot fillers
# --------------------------------------------------------------------------

SLOTS: dict[str, list[str]] = {
    "order": [
        "#48213", "#50917", "#39022", "#61348", "#57780", "#44105", "#70231",
        "#12984", "A-10293", "A-22871", "A-30456", "ORD-583920", "ORD-601337",
        "ORD-477102", "112-4839201", "113-0938475", "98431", "77120", "55309",
    ],
    "wearable": [
        "winter jacket", "rain jacket", "hoodie",
        "denim jacket", "puffer coat", "linen shirt", "wool sweater", "polo shirt",
    ],
    "gadget": [
        "noise-cancelling headset", "bluetooth speaker", "smart watch", "webcam",
        "USB-C hub", "gaming mouse", "mechanical keyboard", "baby monitor",
        "robot vacuum", "electric toothbrush", "e-reader", "power bank",
    ],
    "kitchen": [
        "espresso machine", "air fryer", "blender", "coffee grinder",
        "cast iron skillet", "knife set", "stand mixer", "toaster",
    ],
    "home": [
        "standing desk", "office chair", "desk lamp", "monitor stand",
        "sheet set", "duvet cover", "floor cushion", "yoga mat", "backpack",
        "bookshelf", "water bottle",
    ],
    "when": [
        "on Monday", "on Tuesday", "last Friday", "last week", "on March 3rd",
        "on the 14th", "two weeks ago", "10 days ago", "yesterday", "on the 2nd",
        "on Sunday night", "on June 21", "earlier this month", "over a week ago",
    ],
    "day": [
        "Monday", "Wednesday", "Friday", "March 3rd", "the 14th", "the 2nd",
        "June 21", "the 9th", "Oct 30",
    ],
    "days": ["3", "4", "5", "6", "7", "8", "10", "12", "14"],
    "amount": [
        "$24.99", "$129", "$59.90", "$312.40", "$8.99", "$74.50", "$1,049",
        "€45.00", "€19.95", "£18.50", "£230", "$15", "$42.17", "$199.99",
    ],
    "name": [
        "Maria", "James", "Priya", "Tom", "Aisha", "Daniel", "Keiko", "Lucas",
        "Fatima", "Ben", "Olga", "Carlos", "Hannah", "Wei", "Grace", "Omar",
    ],
    "carrier": [
        "UPS", "FedEx", "USPS", "DHL", "Royal Mail", "Canada Post", "Hermes",
        "OnTrac", "Purolator", "Evri",
    ],
    "plan": [
        "Premium", "Plus", "Pro", "Family", "Business", "Student", "Starter",
    ],
    "card": [
        "Visa", "Mastercard", "Amex", "debit card", "credit card", "PayPal",
        "Apple Pay", "Google Pay", "gift card", "company card", "Discover card",
    ],
    "street": [
        "42 Elm Street", "118 Harbor Rd", "7 Kings Lane", "2250 Oak Ave Apt 4B",
        "31 Rue Lafayette", "900 Pine St Unit 12", "15 Station Road",
        "604 Lakeview Dr", "88 Birch Court", "1401 Market St Suite 300",
    ],
    "city": [
        "Denver", "Austin", "Leeds", "Toronto", "Portland", "Dublin", "Chicago",
        "Melbourne", "Boston", "Manchester", "Seattle", "Lyon",
    ],
    "email": [
        "maria.k@gmail.com", "jbrown82@yahoo.com", "priya.s@outlook.com",
        "tom@mybakery.co.uk", "aisha.r@hotmail.com", "dan.w@proton.me",
        "hannah_lee@icloud.com", "omar.f@gmail.com",
    ],
    "error": [
        "card declined", "transaction failed", "payment could not be processed",
        "error 402", "invalid card details", "something went wrong, try again",
        "bank authorization failed", "payment method not accepted",
    ],
    "size": ["a small", "a medium", "a large", "an XL", "a size 12", "a size 8", "an M", "an XS"],
    "color": ["black", "navy", "white", "olive green", "grey", "red", "beige"],
    "device": [
        "iPhone 13", "iPhone 15", "Pixel 7", "Galaxy S23", "MacBook Air",
        "Windows laptop", "iPad", "Android phone",
    ],
}

SLOTS["product"] = SLOTS["wearable"] + SLOTS["gadget"] + SLOTS["kitchen"] + SLOTS["home"]

# --------------------------------------------------------------------------
# Hand-written phrasings per intent
# --------------------------------------------------------------------------

INTENTS: dict[str, dict[str, list[str]]] = {
    "track_order": {
        "base": [
            "[where is|what happened to|any news on] my order {order}?",
            "can you tell me where my [package|parcel|delivery] is",
            "I'd like to track my order {order}",
            "what's the status of order {order}",
            "has my {product} shipped yet?",
            "I ordered a {product} {when}, can I get a tracking number?",
            "I never got a tracking link for my order",
            "How do I track my package?",
            "Is there a way to see where my {product} is right now?",
            "order {order} - has it left the warehouse?",
            "the tracking number you sent doesn't work on the {carrier} website",
            "Can you send me the tracking info for {order}",
            "Which carrier is delivering my {product}?",
            "when will my order arrive? it's {order}",
            "just checking in on the status of my {product} order",
            "I want to know when my {product} will be delivered",
            "my tracking page hasn't updated since {day}, where is it now?",
            "could you check if order {order} has been dispatched",
            "what day should I expect my delivery",
            "The app says 'processing' for order {order}. what does that mean exactly?",
            "Is my order out for delivery today?",
            "I got an email saying my order shipped but there's no tracking number in it",
            "can I get an update on my order please",
            "where can I find the tracking for my recent purchase",
            "{carrier} says label created, has the package actually been picked up?",
            "what's the ETA on my {product}",
            "has {order} been handed to {carrier} yet",
            "Is there an estimated delivery date for my {product}?",
            "I placed an order {when}, how do I check its status?",
            "does my order ship in one box or two? I only see one tracking number",
            "I'm going away this weekend, will my {product} get here before Friday?",
            "Please share the tracking details for my last order",
            "I can't find my order in the order history, did it go through and ship?",
            "The tracking says delivered to a parcel locker, which locker is it?",
            "Need the tracking number for order {order} so I can watch for it",
            "Can I see where my parcel is on a map?",
            "Has the second half of my split order shipped yet?",
            "I'm waiting on a {product}, any idea when it will show up?",
        ],
        "hard": [
            # looks like a delay complaint but the ask is status / tracking
            "ordered {when}, no rush, just want to know where it is",
            "it's been a few days since I ordered, can you give me the tracking number?",
            "my {product} hasn't arrived yet, where is it at the moment?",
            "I need to cancel plans if it comes tomorrow, so where is order {order} right now?",
            "is my package still on schedule? the tracking hasn't moved today",
            "before I ask for a refund or anything, can you just tell me where order {order} is",
            "my order {order} still says processing, is everything ok?",
            "any update on my {product}? it's been a while",
        ],
    },
    "shipping_delay": {
        "base": [
            "my order {order} is [late|running late|very late]",
            "my package was supposed to arrive {when} and it still hasn't come",
            "the delivery is {days} days overdue",
            "why is my {product} taking so long to ship?",
            "tracking has said 'in transit' for {days} days, what is going on",
            "order {order} has been stuck at the {carrier} facility for a week",
            "Expected delivery was {day}. Still nothing",
            "I paid for express shipping and it's been {days} days",
            "my parcel is delayed again, this is the third time the date changed",
            "This is ridiculous, my {product} was promised by {day}",
            "The estimated delivery date keeps getting pushed back",
            "why hasn't my order shipped yet? it's been over a week since I paid",
            "{carrier} says there's a delay with my package, can you do anything?",
            "I needed this {product} for a birthday on {day} and it's still not here",
            "your site said 2-day shipping but it's day {days}",
            "my order is way past the delivery window",
            "the package hasn't moved since {day}, I think it's lost",
            "still waiting on order {order}, it's really late now",
            "Is there a reason my shipment is so delayed?",
            "Why does it say 'delayed due to operational issues' on my tracking",
            "it's been {days} business days and my {product} hasn't left the warehouse",
            "The delivery was meant to be yesterday and nobody came",
            "My order seems to be stuck in customs, it's been {days} days",
            "I keep getting 'delivery attempt failed' but I was home all day",
            "the courier missed the delivery window again",
            "how much longer do I have to wait? order {order} is more than a week late",
            "Package shows delivered but it never arrived at my door",
            "my {product} got rescheduled for the third time",
            "Tracking went from 'out for delivery' back to 'in transit', why the delay?",
            "It was supposed to ship within 24 hours and it's been {days} days",
            "my order hasn't arrived and the expected date was {day}",
            "Why is the delivery of my {product} being delayed?",
            "The shipment is late and I haven't gotten any update",
            "weather delay was the excuse last week, what is it now? still no {product}",
            "I've been waiting {days} days past the promised date for {order}",
        ],
        "hard": [
            # mentions tracking / cancel / refund but the complaint is the delay
            "where is my order?? it was due {when} and it's still not here",
            "tracking number {order} hasn't updated in {days} days, where is my package",
            "if my {product} doesn't arrive by Friday I'll have to cancel, it's already late",
            "my delivery is late, is it even going to come?",
            "The {product} should have arrived by now, can you check why it's late",
            "I'm about to ask for a refund, my package is {days} days late",
            "where is my {product}? I ordered it two weeks ago",
            "hello?? still no package. order {order}",
        ],
    },
    "cancel_order": {
        "base": [
            "[please|kindly|can you] cancel my order {order}",
            "I want to cancel the {product} I ordered {when}",
            "can I still cancel my order? I just placed it",
            "how do I cancel an order",
            "I changed my mind, please cancel order {order}",
            "I ordered the wrong {product}, can you cancel it before it ships?",
            "cancel {order} please",
            "Is it too late to cancel my purchase?",
            "I accidentally placed the same order twice, can you cancel one of them",
            "I'd like to cancel my order and not have it shipped",
            "Please stop order {order}, I no longer need it",
            "I found the {product} cheaper elsewhere so I want to cancel",
            "can you cancel the {product} but keep the rest of the order",
            "there's no cancel button in the app for order {order}, what do I do?",
            "Need to cancel an order I made by mistake",
            "my kid ordered a {product} on my account, please cancel it",
            "can I cancel my order if it has already shipped?",
            "I want to cancel, I ordered the {wearable} in the wrong size",
            "please don't ship order {order}, I want to cancel it",
            "How long do I have to cancel after ordering?",
            "I placed an order {when} but I don't want it anymore",
            "cancel my order, I'll reorder with the correct color",
            "I'd like to cancel one item from my order",
            "Can I cancel a pre-order? it's the {product}",
            "my order is still processing, please cancel it",
            "I'm trying to cancel order {order} but the page gives me an error",
            "Pls cancel the order I placed this morning",
            "I want to cancel the {product} from {order} before it goes out",
            "Can you cancel my order? I used the wrong payment method",
            "can I cancel the whole order, not just part of it?",
            "I need to cancel my order because I'm moving and won't be there",
            "what happens if I cancel after {carrier} has picked it up",
            "Could you please cancel order {order}. Thank you",
            "I'd like to cancel the order I placed for my mum",
        ],
        "hard": [
            # mentions refund / delay but the action requested is cancelling
            "cancel order {order} and refund me please",
            "it's taking forever to ship so just cancel it",
            "if I cancel the {product} now, will I get my {amount} back?",
            "can I cancel and get a refund? it hasn't shipped yet",
            "I don't want to wait {days} more days, please cancel my order",
            "please cancel the order, I'll return it if it already went out",
            "I don't need the {product} anymore, it hasn't shipped right?",
            "can I get out of this order? {order}",
        ],
    },
    "request_refund": {
        "base": [
            "I [want|would like|need] a refund for order {order}",
            "can I get my money back for the {product}",
            "I returned the {product} {when} and still haven't been refunded",
            "when will I receive my refund?",
            "the [{gadget}|{kitchen}|{home}] arrived broken, I'd like a refund",
            "please refund the {amount} for order {order}",
            "I was promised a refund two weeks ago and nothing has come through",
            "How long do refunds take to show up on my card?",
            "the item never arrived, I want my money refunded",
            "I'd like a full refund, the {product} is nothing like the pictures",
            "my refund was only partial, I paid {amount}",
            "You refunded the wrong amount for {order}",
            "Can you refund me instead of sending a replacement?",
            "I cancelled {when} but haven't seen the refund yet",
            "Where is my refund? It's been {days} days",
            "Please process a refund to my original payment method",
            "Can the refund go back to my [card|PayPal|bank account] instead of store credit?",
            "the [{gadget}|{kitchen}] stopped working after two days, I just want a refund",
            "I'm requesting a refund for a missing item in my order",
            "refund status for order {order}?",
            "I received the wrong {product} and want my money back, not an exchange",
            "you said the refund was issued but my bank shows nothing",
            "I'd like to be reimbursed for the {product}, it was damaged in the box",
            "Can I get a refund for the shipping fee? the order was late",
            "refund please, the {product} was used when it arrived",
            "the refund for {amount} still says pending",
            "How do I request a refund?",
            "I never received my refund for the returned {product}",
            "Can I get a refund for just one item from my order?",
            "The seller agreed to refund me but I haven't got anything",
            "I want my {amount} back, the product was defective",
            "Is it possible to get a refund after 30 days?",
            "can you refund the price difference, it went on sale the next day",
        ],
        "hard": [
            # close to return / cancel / billing
            "I sent the {product} back {when}, when do I get my money?",
            "my order was cancelled but I was still charged {amount}, please refund it",
            "you charged me twice for {order}, I need one of those refunded",
            "order never showed up so cancel it and give me my money back",
            "I don't want to return it, the {product} is junk, just refund me",
            "still waiting on the money for the {product} I returned",
            "the {product} never came, I'd like my money back",
            "what are my options to get my {amount} back? the {product} was a disappointment",
        ],
    },
    "return_item": {
        "base": [
            "I [want|need|would like] to return the {product}",
            "how do I return an item?",
            "can I return the {product} I bought {when}",
            "I need a return label for order {order}",
            "the {wearable} doesn't fit, how do I send it back",
            "What is your return policy?",
            "is it too late to return something I bought {when}?",
            "Can I exchange the {wearable} for {size}?",
            "I'd like to send back the {product}, it's the wrong color",
            "Do I have to pay for return shipping?",
            "can I drop the return off at a {carrier} location",
            "I opened the box, can I still return the {product}?",
            "I want to exchange my {gadget} for a different model",
            "I lost the original packaging, can I still send it back?",
            "how many days do I have to return my order",
            "please send me a prepaid return label",
            "I started a return online but never got the label",
            "Can I return just one of the items from order {order}?",
            "I received a {product} as a gift, how can I return it without a receipt?",
            "my return label expired before I could ship it",
            "I'd like to swap the {color} {wearable} for the black one",
            "Where do I ship my return to?",
            "Can I return items bought on sale?",
            "The {wearable} is too small, I'd like to return it for {size}",
            "I need to return a damaged {product}, can you arrange a pickup?",
            "Can I return the {product} in store instead of mailing it?",
            "I shipped my return {when}, did you get it?",
            "return request for {order}, the {product} isn't what I expected",
            "is there a restocking fee if I return the {product}?",
            "want to return the shoes, they're uncomfortable",
            "how do I start a return on the app?",
            "Can I send back an opened {product} if it's unused?",
            "I want to exchange my order for something else",
        ],
        "hard": [
            # mentions refund but the ask is the return process
            "I want to return the {product} for a refund, how do I do that?",
            "The [{gadget}|{kitchen}|{home}] arrived damaged, can I send it back?",
            "if I return the {product} will I get the full {amount} back?",
            "I'd rather return it than get a refund in store credit, how do I ship it back",
            "it came late and I don't need it anymore, how do I return the {product}",
            "got charged for the {product} but it's the wrong one, where do I send it back",
            "the {wearable} doesn't fit, what can I do?",
            "I'm not happy with the {product}, what are my options?",
        ],
    },
    "change_address": {
        "base": [
            "I need to change the shipping address on my order",
            "can I update the delivery address for {order}?",
            "I put the wrong address, it should be {street}",
            "please ship order {order} to {street}, {city} instead",
            "I moved, how do I change my address?",
            "Can you deliver to my work address instead of home?",
            "I made a typo in my street name, can you fix it?",
            "the zip code on my order is wrong",
            "Is it possible to redirect my package to {city}?",
            "how do I update my default shipping address",
            "I need my {product} sent to a different address",
            "please change the apartment number on my order to 4B",
            "I forgot to add my unit number to the address",
            "Can I change where my order is going after it's shipped?",
            "I'm staying in {city} next week, can the package be sent there?",
            "my address is wrong in my account, it still shows my old place",
            "Please update the delivery address: {street}, {city}",
            "I entered my billing address as the shipping address by mistake",
            "Can I have my order shipped to a {carrier} pickup point instead?",
            "I want to change the address for my {plan} subscription deliveries",
            "wrong address on order {order}, can you correct it before it ships?",
            "can my parcel go to my neighbour at number 12 instead",
            "How can I edit the address on an order I already placed?",
            "the house number on {order} is wrong, should be {street}",
            "I'd like to change my delivery address to {street}",
            "my order is going to my parents' house by mistake, can you change it",
            "change address on my order to {city} please",
            "I just realized the order is going to my old apartment",
            "can you add a second address line for the buzzer code",
            "need to update the postcode on my delivery",
            "the checkout auto-filled the wrong address, please fix it",
            "can I change the recipient name and address on a gift order?",
        ],
        "hard": [
            # mentions delivery / tracking / account but the ask is the address
            "{carrier} couldn't deliver because the address is wrong, can you update it to {street}",
            "my package is in transit but I moved {when}, can it go to {city}?",
            "the tracking shows {city} but that's my old address, can you reroute it",
            "I updated my address in my account, will my order {order} go to the new one?",
            "if you can't change the address, should I just cancel and reorder?",
            "I won't be at that address next week, can you send the package somewhere else?",
            "I moved last month, will my order still find me?",
        ],
    },
    "payment_failed": {
        "base": [
            "my payment keeps failing at [checkout|the last step]",
            "my card was declined but there's money in the account",
            "I get '{error}' when I try to pay",
            "why won't my {card} go through?",
            "I can't complete my purchase, the payment page just spins",
            "payment failed for my {plan} subscription renewal",
            "tried three different cards and all of them got declined",
            "checkout says {error}, what should I do",
            "I can't pay with {card}, it gives an error",
            "my order didn't go through because the payment failed",
            "The payment for {amount} was rejected, can you help?",
            "why does it say my card is invalid? I just used it yesterday",
            "I'm trying to buy a {product} but the payment won't process",
            "Your site won't accept my {card}",
            "the transaction keeps timing out when I click pay",
            "got an email that my payment failed, how do I fix it",
            "I entered my card details correctly and it still says '{error}'",
            "can't use my gift card at checkout, it says invalid",
            "Payment error on the app when ordering, works on the bank's side",
            "my bank says they didn't block anything but your checkout declines my card",
            "the 3D secure code never arrives so my payment fails",
            "Apple Pay fails every time I try to order",
            "I keep getting kicked back to the cart after paying",
            "my subscription payment bounced, how do I retry it?",
            "I can't check out, it says my billing address doesn't match",
            "the payment didn't work and now my cart is empty",
            "PayPal shows an error when I try to pay for order {order}",
            "Why was my card declined for a {amount} order?",
            "is your payment system down? I can't pay",
            "checkout fails at the last step with no error message",
            "my payment was declined and my {plan} plan got paused",
            "I updated my card but the payment still fails",
        ],
        "hard": [
            # involves charges / billing but the core issue is a failed payment
            "the payment failed but I think I was still charged {amount}?",
            "my card was declined but the charge shows as pending on my bank app",
            "why was I charged if the payment failed and there's no order?",
            "I can't pay my invoice online, the card gets declined",
            "the payment didn't go through and now I've lost my {plan} features",
            "I tried to pay {amount} and nothing happened, was I charged?",
            "checkout won't take my {card}, do you accept anything else?",
        ],
    },
    "billing_question": {
        "base": [
            "why [was I charged|did you charge me|am I being charged] {amount}?",
            "I see a charge from you on my statement I don't recognize",
            "can you send me an invoice for order {order}",
            "what is this {amount} charge on my {card}?",
            "how much is the {plan} plan per month",
            "I was charged twice for the same order",
            "when will I be billed for my {plan} subscription?",
            "Can I get a VAT receipt for my purchase?",
            "why did my subscription price go up?",
            "I need a copy of my receipt for my order from {day}",
            "How do I change the card that I'm billed on?",
            "My bill is higher than expected this month, can you explain?",
            "does the price include tax?",
            "I was charged for shipping even though I have a {plan} membership",
            "Can I switch to annual billing to save money?",
            "how do I update my billing address for invoices",
            "there's a pending charge of {amount} from your company, what is it for?",
            "what day of the month am I billed?",
            "can I get an itemized invoice with my company name on it",
            "I don't understand the charges on my last bill",
            "Why is there a {amount} authorization hold on my card?",
            "Will I be charged if I downgrade from {plan} to the free tier?",
            "can you explain the fees on my account",
            "do you charge in dollars or euros? my bank added a foreign fee",
            "I was billed after my free trial ended, I thought it was free",
            "where can I download my past invoices",
            "I need the invoice to show my company's tax ID",
            "was my discount code applied? the total looks wrong",
            "why is the amount on my card different from the order total?",
            "Can I pay for my {plan} subscription with {card}?",
            "I got charged {amount} on {day}, what was that for?",
            "How is the prorated charge calculated when I upgrade?",
        ],
        "hard": [
            # sounds like payment failure / refund, but it's a billing query
            "my payment went through but I was charged {amount} instead of the listed price",
            "I see two charges of {amount} for one order, is one of them just a hold?",
            "the charge was declined once then approved, why do I see it twice?",
            "is the {amount} credit on my statement a refund or something else?",
            "I was charged for the {plan} plan but I cancelled it {when}",
            "do you accept {card} for subscriptions?",
            "my bank shows a declined {amount} charge from you, what was it for?",
        ],
    },
    "account_access": {
        "base": [
            "I [can't|cannot|am unable to] log into my account",
            "I forgot my password and the reset email never arrives",
            "my account is locked after too many attempts",
            "the password reset link says it expired",
            "I'm not getting the two-factor code on my phone",
            "how do I reset my password?",
            "It says my email isn't registered but I've ordered before",
            "I changed phones and now I can't get past the verification step",
            "can't sign in on my {device}, it just loops back to the login page",
            "my account was hacked, someone changed my email",
            "I need to change the email on my account to {email}",
            "the login page says 'invalid credentials' but my password is correct",
            "I signed up with Google and now I can't log in with email",
            "How do I unlock my account?",
            "I never received the verification email",
            "my account got suspended and I don't know why",
            "Can't log in, keep getting an error",
            "I have two accounts by mistake, can you merge them?",
            "The app logs me out every few minutes",
            "Someone else is logged into my account, how do I kick them out",
            "I lost access to the email I used to sign up",
            "forgot my username, my email is {email}",
            "it won't let me log in after the app update",
            "how do I turn off two-step verification",
            "I'm locked out, please help me get back into my account",
            "login code says invalid every time on my {device}",
            "can you reset my password for {email}",
            "my account shows someone else's name and orders",
            "the captcha won't let me sign in",
            "I want to delete my account, but I can't log in to do it",
            "I got an email about a login from {city}, that wasn't me",
            "My password doesn't work anymore, did you reset all accounts?",
        ],
        "hard": [
            # mentions orders / billing / payments but the blocker is access
            "I can't log in to check on my order {order}",
            "I can't get into my account to update my card",
            "locked out of my account so I can't download my invoices",
            "I need to cancel my order but I can't sign in to do it",
            "my {plan} subscription is paid but the app says I'm logged out and won't let me back in",
            "I can't see my past orders anymore, did my account get deleted?",
            "the app keeps asking me to verify my email before I can check out",
        ],
    },
    "product_question": {
        "base": [
            "does the {product} come in {color}?",
            "is the {gadget} compatible with my {device}?",
            "what size should I get in the {wearable}, I'm usually {size}",
            "Is the {product} back in stock anytime soon?",
            "does the {gadget} come with a warranty?",
            "how long does the battery last on the {gadget}",
            "what are the dimensions of the {home}?",
            "Is the {wearable} waterproof?",
            "is the [smart watch|bluetooth speaker|noise-cancelling headset] water resistant? I'd use it at the gym",
            "what's the difference between the two [{gadget}|{kitchen}] models on your site?",
            "does the {gadget} include a charger in the box",
            "is the {kitchen} dishwasher safe",
            "what material is the {product} made of",
            "Do you sell replacement parts for the {kitchen}?",
            "Is the {color} {wearable} available in {size}?",
            "how do I set up my new {gadget}?",
            "what's the weight limit on the office chair",
            "does the {kitchen} work with 220V outlets? I'm in Europe",
            "Is the {wearable} machine washable?",
            "how loud is the [{kitchen}|robot vacuum|blender]?",
            "Can I get the water bottle engraved?",
            "does the {gadget} need an app to work",
            "is there a newer version of the {gadget} coming out?",
            "does the [standing desk|office chair|bookshelf|monitor stand] come assembled or do I build it myself?",
            "what's the warranty period on the {kitchen}",
            "my {gadget} won't turn on, is there a reset button?",
            "how do I clean the {kitchen}?",
            "Does the {wearable} run true to size?",
            "is the {product} you sell the genuine brand or a copy",
            "will you restock the {wearable} in {size}?",
            "Does the {gadget} ship with batteries?",
            "Can the standing desk go low enough for someone who is 5'2\"?",
            "are the bed sheets 100% cotton?",
            "is the [cast iron skillet|saucepan set|dutch oven] induction compatible?",
            "which {gadget} would you recommend, the cheaper one or the pro version?",
        ],
        "hard": [
            # touches on return / order / shipping but the ask is about the product
            "before I order, does the {gadget} work with a {device}? I don't want to deal with a return",
            "if the {wearable} runs small should I size up? trying to avoid sending it back",
            "does the {product} ship in its original box? it's a gift",
            "the {gadget} I got has no manual, how do I pair it with my {device}?",
            "is the {product} in my order {order} the new model or last year's?",
            "is the {product} worth it over the cheaper one? I already ordered but might cancel",
            "does the {gadget} really last 10 hours? mine dies after 3",
        ],
    },
}

# --------------------------------------------------------------------------
# Natural variation
# --------------------------------------------------------------------------

OPENERS = [
    "hi,", "Hi,", "hello,", "Hello team,", "hello team", "Hey there,", "hey",
    "Good morning,", "Hi support,", "Hi there.", "Dear customer service,",
    "Hi, {name} here.", "Hello, this is {name}.", "hey guys,", "Hi again,",
    "quick question:", "Hello, I hope you can help.", "Good afternoon,",
]

CLOSERS = [
    "thanks", "Thanks!", "thank you", "thx", "Thanks in advance.",
    "appreciate it", "please help", "Any help appreciated.", "cheers",
    "- {name}", "Thanks, {name}", "Regards, {name}", "ty", "please advise",
    "let me know asap", "thank you so much!", "Kind regards.",
]

TYPOS = [
    ("receive", "recieve"), ("address", "adress"), ("package", "pakage"),
    ("please", "pls"), ("the ", "teh "), ("order", "oder"), ("account", "acount"),
    ("because", "becuase"), ("payment", "payemnt"), ("cancel", "cancle"),
    ("shipping", "shiping"), ("would", "woud"), ("what", "wat"), ("you", "u"),
    ("definitely", "definately"), ("tracking", "traking"), ("delivery", "delivey"),
    ("refund", "refun"), ("password", "pasword"), ("there", "their"),
    ("it's", "its"), ("don't", "dont"), ("I'm", "im"), ("can't", "cant"),
]

_ALT = re.compile(r"\[([^\[\]]*)\]")
_SLOT = re.compile(r"\{(\w+)\}")


def fill(template: str, rng: random.Random) -> str:
    """Expand ``[a|b]`` alternatives and ``{slot}`` fillers."""
    text = _ALT.sub(lambda m: rng.choice(m.group(1).split("|")), template)
    text = _SLOT.sub(lambda m: rng.choice(SLOTS[m.group(1)]), text)
    return re.sub(r"\s+", " ", text).strip()


def add_noise(text: str, rng: random.Random) -> str:
    """Greetings, sign-offs, punctuation, casing and typos, all optional."""
    # capitalise the first letter most of the time, as people usually do
    if rng.random() < 0.6:
        text = text[0].upper() + text[1:]

    # punctuation at the end: keep, drop, or make it emphatic
    r = rng.random()
    if r < 0.15:
        text = text.rstrip(".?!")
    elif r < 0.22 and text.endswith("?"):
        text = text + "?"
    elif r < 0.30 and text[-1] not in ".?!":
        text = text + "."

    if rng.random() < 0.30:
        text = fill(rng.choice(OPENERS), rng) + " " + text
    if rng.random() < 0.25:
        sep = " " if text[-1] in ".?!" else rng.choice([". ", ", ", " "])
        text = text + sep + fill(rng.choice(CLOSERS), rng)

    if rng.random() < 0.12:
        text = text.lower()

    if rng.random() < 0.12:
        options = [(a, b) for a, b in TYPOS if a in text]
        if options:
            a, b = rng.choice(options)
            text = text.replace(a, b, 1)
    return text


def dedupe_key(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def generate(
    pools: dict[str, list[str]], n: int, seen: set[str], rng: random.Random
) -> list[str]:
    """Draw ``n`` new texts from ``pools``; ``seen`` is updated in place.

    Phrasings are used in shuffled rounds (each at most once per round) so
    that no single phrasing dominates a split. ``seen`` holds the filled
    phrasings *before* noise is added, so two rows never differ only by a
    greeting, a sign-off, their casing or a typo.
    """
    templates = pools["base"] + pools["hard"]
    out: list[str] = []
    while len(out) < n:
        order = templates[:]
        rng.shuffle(order)
        progress = False
        for template in order:
            if len(out) == n:
                break
            for _ in range(25):  # a few tries to find unused slot values
                core = fill(template, rng)
                key = dedupe_key(core)
                if key not in seen:
                    seen.add(key)
                    out.append(add_noise(core, rng))
                    progress = True
                    break
        if not progress:
            raise RuntimeError(f"ran out of unique phrasings after {len(out)} of {n}")
    return out


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    rng = random.Random(SEED)
    seen: set[str] = set()
    intents = list(INTENTS)

    # Keep a quarter of each intent's base phrasings out of train, so the test
    # split also measures new wording rather than only new slot values.
    train_pools: dict[str, dict[str, list[str]]] = {}
    for intent in intents:
        base = list(INTENTS[intent]["base"])
        rng.shuffle(base)
        n_heldout = round(len(base) * HELDOUT_RATE)
        train_pools[intent] = {"base": base[n_heldout:], "hard": INTENTS[intent]["hard"]}

    train: list[dict] = []
    test: list[dict] = []
    for intent in intents:
        texts = generate(train_pools[intent], N_TRAIN, seen, rng)
        train += [{"text": t, "label": intent} for t in texts]
    for intent in intents:
        texts = generate(INTENTS[intent], N_TEST, seen, rng)
        test += [{"text": t, "label": intent} for t in texts]

    # calibration: a separate draw after train and test, spread across
    # intents, unlabelled; ``seen`` keeps it disjoint from both splits
    calib: list[dict] = []
    for i in range(N_CALIB):
        intent = intents[i % len(intents)]
        calib += [{"text": t} for t in generate(INTENTS[intent], 1, seen, rng)]

    rng.shuffle(train)
    rng.shuffle(test)
    rng.shuffle(calib)

    write_jsonl(OUT_DIR / "intents_train.jsonl", train)
    write_jsonl(OUT_DIR / "intents_test.jsonl", test)
    write_jsonl(OUT_DIR / "intents_calib.jsonl", calib)
    print(f"wrote {len(train)} train, {len(test)} test, {len(calib)} calib rows to {OUT_DIR}")


if __name__ == "__main__":
    main()
