"""The WhatsApp simulator (local mode only): chat as a customer or a technician in a browser, through the
real signed webhook, and see the replies the local Graph API sandbox recorded."""
