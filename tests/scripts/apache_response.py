# CGI response rules stay Apache's: Status, Location, and stderr to the log.
import os
import sys

how = os.environ.get("QUERY_STRING", "")
if how == "status":
    print("Status: 418 I'm a teapot")
    print("Content-Type: text/plain\n")
    print("short and stout")
elif how == "redirect":
    print("Status: 302 Found")
    print("Location: http://example.invalid/elsewhere\n")
elif how == "local":
    print("Location: /hello.py?name=Local\n")
elif how in ("env", "hop", "docenv", "hopdoc"):
    # A local redirect to env.py beside this script, with extra path and
    # query; after one more through this script (hop); to the env.py in the
    # document root, wherever this script is (docenv), after one more
    # (hopdoc).
    here = os.path.dirname(os.environ["SCRIPT_NAME"]).rstrip("/")
    if how.startswith("hop"):
        print(f"Location: {here}/response.py/h?{how[3:]}env\n")
    else:
        print(f"Location: {'' if how == 'docenv' else here}/env.py/p?k=v\n")
elif how.startswith("go="):
    # A local redirect to wherever the query says (%-decoded).
    from urllib.parse import unquote
    print(f"Location: {unquote(how[3:])}\n")
elif how == "stderr":
    sys.stderr.write("apache-stderr-one\napache-stderr-two\n")
    sys.stderr.flush()
    print("Content-Type: text/plain\n")
    print("logged")
