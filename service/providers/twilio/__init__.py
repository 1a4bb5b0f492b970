"""Everything that speaks Twilio: the REST client, the SMS and voice adapters, the TwiML."""
