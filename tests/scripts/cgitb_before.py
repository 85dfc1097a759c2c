# A CGI script that crashes before it prints anything: the cgitb report must
# still be a valid CGI response (the stdlib's "<!--: spam" first line is not).
import cgitb
cgitb.enable()


def lookup(table, key):
    return table[key]


settings = {"colour": "blue"}
lookup(settings, "size")
print("Content-Type: text/html")
print()
print("<p>never reached</p>")
