# A CGI script that crashes after its headers and part of its page.
import cgitb

cgitb.enable()
print("Content-Type: text/html")
print()
print("<html><head><title>after</title></head><body>")
print("<h1>Report of the day</h1>")
print("<!-- an open comment, and a table that is never closed")
print("-->")
print("<table><tr><td>")
rows = [1, 2, "three"]
total = sum(rows)
print(total)
