chmod 644 server.key
