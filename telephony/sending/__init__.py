"""Everything that sends (SMS, outbound calls) and the backends that deliver it."""
