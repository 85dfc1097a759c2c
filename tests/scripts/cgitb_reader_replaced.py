import sys, cgitb
class Evil(dict):
    def __setitem__(self, k, v):
        L[3] = None; L[2] = None
L = None
def prof(frame, event, arg):
    global L
    if event == "c_call" and getattr(arg, "__name__", "") == "reader" and \
            isinstance(getattr(arg, "__self__", None), list) and L is None:
        L = arg.__self__
        L[3] = eval("lambda f, n: 'x = %d\\n' % id(f)")
        L[2] = "".join(["fi", "le"]) + str(id(L))
        L[0] = Evil()
        sys.setprofile(None)
try:
    1/0
except ZeroDivisionError:
    ei = sys.exc_info()
sys.setprofile(prof)
try:
    cgitb.text(ei)
    print("report")
except Exception as e:
    print(type(e).__name__, e)
