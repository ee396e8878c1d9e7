; Sums 1, 2, 3... for as long as may_goto lets the loop run.
; Nothing relies on the sum's exact value, so the verifier keeps it
; imprecise, widens it after the first iterations and stops in a few steps.
r1 = 0
r2 = 0
may_goto +3
r1 += 1
r2 += r1
goto -4
r0 = 2
exit
