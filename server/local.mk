# server/
