"""What every part of coc uses: user-error checks (:class:`~coc.utils.validation.CocError`), the array namespace, the clock."""
